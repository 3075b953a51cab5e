//! PROTOCOL.md §1.1: the level prefix, parsed first on every write.

use super::find;

const V1: &[u8] = b"[v1] ";
const V2: &[u8] = b"[v2] ";
/// Written before a level digit and a JSON object: `[v\0JSON]1{…}` is a level-1 JSON entry
/// (PROTOCOL.md §1.1). The facades write it; [`parse`] reads it.
pub const JSON_MARKER: &[u8] = b"[v\0JSON]";

/// Returns the level (0..=9) and the payload that remains once the prefix is handled.
/// `scratch` holds the payload when `[v1] `/`[v2] ` occurrences had to be removed.
pub fn parse<'a>(src: &'a [u8], scratch: &'a mut Vec<u8>) -> (u8, &'a [u8]) {
    // Most writes hold no `[v` at all: one memchr for `[` rules that out.
    if src.first().is_none_or(|&b| b == b'{') || find(src, b"[v").is_none() {
        return (0, src);
    }
    for (level, marker) in [(1, V1), (2, V2)] {
        if find(src, marker).is_some() {
            scratch.clear();
            let mut rest = src;
            while let Some(at) = find(rest, marker) {
                scratch.extend_from_slice(&rest[..at]);
                rest = &rest[at + marker.len()..];
            }
            scratch.extend_from_slice(rest);
            return (level, scratch);
        }
    }
    if let Some(at) = find(src, JSON_MARKER) {
        let rest = &src[at + JSON_MARKER.len()..];
        if rest.len() >= 2 && rest[0].is_ascii_digit() {
            return (rest[0] - b'0', &rest[1..]);
        }
    }
    (0, src)
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn level(src: &[u8]) -> (u8, Vec<u8>) {
        let mut scratch = Vec::new();
        let (level, payload) = parse(src, &mut scratch);
        (level, payload.to_vec())
    }

    #[test]
    fn prefixes() {
        assert_eq!(level(b"plain"), (0, b"plain".to_vec()));
        assert_eq!(level(b"[v1] a [v1] b"), (1, b"a b".to_vec()));
        assert_eq!(level(b"x [v2] y"), (2, b"x y".to_vec()));
        assert_eq!(level(b"[v1] a [v2] b"), (1, b"a [v2] b".to_vec()));
        assert_eq!(level(b"[v3] no"), (0, b"[v3] no".to_vec()));
        assert_eq!(level(b"[v1]no-space"), (0, b"[v1]no-space".to_vec()));
        assert_eq!(
            level(b"{\"a\":\"[v1] x\"}"),
            (0, b"{\"a\":\"[v1] x\"}".to_vec())
        );
        assert_eq!(level(b"pre [v\0JSON]7{}"), (7, b"{}".to_vec()));
        assert_eq!(level(b"[v\0JSON]7"), (0, b"[v\0JSON]7".to_vec()));
        assert_eq!(level(b"[v\0JSON]x{}"), (0, b"[v\0JSON]x{}".to_vec()));
        assert_eq!(level(b""), (0, b"".to_vec()));
    }
}
