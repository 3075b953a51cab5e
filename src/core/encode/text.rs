//! PROTOCOL.md §1.3: JSON string escaping of arbitrary bytes, and truncation with `…+N`.

/// Per byte: 0 = copy as is, b'u' = `\u00XX`, anything else = a backslash followed by that byte.
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x0C] = b'f';
    table[0x0A] = b'n';
    table[0x0D] = b'r';
    table[0x09] = b't';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `src` escaped for the inside of a JSON string. Each byte that is not part of a valid
/// UTF-8 sequence becomes one U+FFFD, as Go's `utf8.DecodeRune` sees it (one per byte).
pub fn append_escaped(out: &mut Vec<u8>, mut src: &[u8]) {
    loop {
        match std::str::from_utf8(src) {
            Ok(valid) => return append_escaped_utf8(out, valid.as_bytes()),
            Err(err) => {
                let (valid, rest) = src.split_at(err.valid_up_to());
                append_escaped_utf8(out, valid);
                out.extend_from_slice(REPLACEMENT);
                src = &rest[1..];
            }
        }
    }
}

/// The index of the first byte at or after `from` that JSON escapes (a control byte, `"` or
/// `\\`), or `src.len()`: eight bytes at a time, since most text escapes nothing.
fn next_escape(src: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `x` below `n` (exact for the lowest such byte, which is the
    // one wanted: a borrow only ever marks bytes above it).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    let mut i = from;
    while let Some(chunk) = src.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let found = below(x, 0x20)
            | below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1);
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + src[i..]
        .iter()
        .take_while(|&&b| ESCAPE[b as usize] == 0)
        .count()
}

fn append_escaped_utf8(out: &mut Vec<u8>, src: &[u8]) {
    let mut start = 0;
    loop {
        let i = next_escape(src, start);
        out.extend_from_slice(&src[start..i]);
        let Some(&b) = src.get(i) else {
            return;
        };
        let escape = ESCAPE[b as usize];
        if escape == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xF) as usize]);
        } else {
            out.push(b'\\');
            out.push(escape);
        }
        start = i + 1;
    }
}

/// Where `src` is cut when it is longer than `limit`: back up over (at most three) UTF-8
/// continuation bytes, then drop the lead byte too, so no character is ever split.
pub fn cut_point(src: &[u8], limit: usize) -> usize {
    if src.len() <= limit {
        return src.len();
    }
    let mut end = limit;
    while end > 0 && limit - end < 3 && src[end - 1] & 0xC0 == 0x80 {
        end -= 1;
    }
    if end > 0 && src[end - 1] >= 0xC0 {
        end -= 1;
    }
    end
}

/// Appends `"…"`: `src` escaped, cut at `limit` raw bytes with `…+N` inside the closing quote.
pub fn append_truncated_string(out: &mut Vec<u8>, src: &[u8], limit: usize) {
    let end = cut_point(src, limit);
    out.push(b'"');
    append_escaped(out, &src[..end]);
    if end < src.len() {
        out.extend_from_slice("…+".as_bytes());
        append_decimal(out, (src.len() - end) as u64);
    }
    out.push(b'"');
}

pub fn append_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(src: &[u8]) -> String {
        let mut out = Vec::new();
        append_escaped(&mut out, src);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_ascii_byte_at_every_offset_of_a_word_escapes_as_serde_json_does() {
        for b in 0u8..0x80 {
            for at in 0..20 {
                let mut src = b"abcdefghijklmnopqrst".to_vec();
                src[at] = b;
                let text = std::str::from_utf8(&src).unwrap();
                let expected = serde_json::to_string(text).unwrap();
                let expected = &expected[1..expected.len() - 1];
                assert_eq!(
                    escaped(&src).to_lowercase(),
                    expected.to_lowercase(),
                    "{b:#x} at {at}"
                );
            }
        }
    }

    #[test]
    fn escapes_every_class() {
        assert_eq!(escaped(b"\"\\"), r#"\"\\"#);
        assert_eq!(escaped(b"\x08\x0c\n\r\t"), r"\b\f\n\r\t");
        assert_eq!(escaped(b"\x00\x01\x1f"), r"\u0000\u0001\u001f");
        assert_eq!(escaped(b"\x7f/<>&"), "\x7f/<>&");
        assert_eq!(
            escaped("\u{2028}\u{2029}é😀".as_bytes()),
            "\u{2028}\u{2029}é😀"
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_per_byte() {
        assert_eq!(escaped(b"\xe2\x82A"), "\u{FFFD}\u{FFFD}A");
        assert_eq!(escaped(b"\xff"), "\u{FFFD}");
        assert_eq!(escaped(b"\xed\xa0\x80"), "\u{FFFD}\u{FFFD}\u{FFFD}");
        assert_eq!(escaped(b"\xc0\xaf"), "\u{FFFD}\u{FFFD}");
        assert_eq!(escaped(b"a\xf0\x9f\x98"), "a\u{FFFD}\u{FFFD}\u{FFFD}");
    }

    #[test]
    fn cut_never_splits_a_character() {
        assert_eq!(cut_point(b"abcd", 4), 4);
        assert_eq!(cut_point(b"abcde", 4), 4);
        assert_eq!(cut_point("abé".as_bytes(), 3), 2); // lead byte at the limit is dropped
        assert_eq!(cut_point("abéx".as_bytes(), 4), 2); // a character ending at the limit is dropped too
        assert_eq!(cut_point("a😀x".as_bytes(), 5), 1);
        assert_eq!(cut_point(b"ab\x80\x80\x80\x80\x80", 6), 3); // backs up at most three bytes
    }

    #[test]
    fn decimal() {
        let mut out = Vec::new();
        append_decimal(&mut out, 0);
        out.push(b' ');
        append_decimal(&mut out, u64::MAX);
        assert_eq!(out, b"0 18446744073709551615");
    }
}
