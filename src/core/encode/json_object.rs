//! PROTOCOL.md §1.4: is a payload exactly one valid JSON object, and where is its `logtail` member?

/// Nesting deeper than this is treated as not-JSON (the payload becomes a text entry),
/// so a hostile payload cannot exhaust the stack.
const MAX_DEPTH: usize = 256;

/// A top-level member, as byte offsets into the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub key_start: usize,
    pub value_start: usize,
    pub value_end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectShape {
    /// Offset of the object's closing `}`.
    pub close: usize,
    /// The top-level member named `logtail` (compared after unescaping), if any.
    pub logtail: Option<Member>,
}

/// Validates payloads; keeps its scratch buffers so that steady-state use allocates nothing.
#[derive(Default)]
pub struct ObjectScanner {
    names: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl ObjectScanner {
    /// `Some` when `src` is exactly one JSON object: valid UTF-8, valid grammar, no duplicate
    /// member names at any depth, nothing after it but whitespace.
    pub fn scan(&mut self, src: &[u8]) -> Option<ObjectShape> {
        if src.first() != Some(&b'{') || std::str::from_utf8(src).is_err() {
            return None;
        }
        let mut parser = Parser::new(src, &mut self.names, &mut self.spans);
        let logtail = parser.object(1, true)?;
        let close = parser.pos - 1;
        parser.whitespace();
        (parser.pos == src.len()).then_some(ObjectShape { close, logtail })
    }
}

/// The grammar of §1.4, also read piece by piece by the OTLP derivation (`core::otlp`), which
/// reads only entries this parser accepted.
pub(crate) struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    names: &'a mut Vec<u8>,
    spans: &'a mut Vec<(usize, usize)>,
}

impl<'a> Parser<'a> {
    /// A parser at the start of `src`; `names` and `spans` are its scratch.
    pub(crate) fn new(
        src: &'a [u8],
        names: &'a mut Vec<u8>,
        spans: &'a mut Vec<(usize, usize)>,
    ) -> Self {
        names.clear();
        spans.clear();
        Parser {
            src,
            pos: 0,
            names,
            spans,
        }
    }

    pub(crate) fn src(&self) -> &'a [u8] {
        self.src
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Consumes `b` if it comes next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        self.pos += usize::from(found);
        found
    }

    /// Reads the string at `pos`, unescaped into [`Parser::last_string`].
    pub(crate) fn unescape_string(&mut self) -> Option<()> {
        if self.peek() != Some(b'"') {
            return None;
        }
        self.names.clear();
        self.string(true)
    }

    /// What the last [`Parser::unescape_string`] read.
    pub(crate) fn last_string(&self) -> &[u8] {
        self.names
    }

    /// Parses the value at `pos` (any kind, nested no deeper than the encoder accepts).
    pub(crate) fn skip_value(&mut self) -> Option<()> {
        self.value(1)
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    pub(crate) fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1, false).map(drop),
            b'[' => self.array(depth + 1),
            b'"' => self.string(false),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// Parses an object at `pos`; for the top level, also reports its `logtail` member.
    fn object(&mut self, depth: usize, top: bool) -> Option<Option<Member>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.whitespace();
        let (span_base, name_base) = (self.spans.len(), self.names.len());
        let mut logtail = None;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(None);
        }
        loop {
            self.whitespace();
            if self.peek()? != b'"' {
                return None;
            }
            let key_start = self.pos;
            let name_start = self.names.len();
            self.string(true)?;
            self.spans.push((name_start, self.names.len()));
            self.whitespace();
            if self.next()? != b':' {
                return None;
            }
            self.whitespace();
            let value_start = self.pos;
            self.value(depth)?;
            if top && &self.names[name_start..] == b"logtail" {
                logtail = Some(Member {
                    key_start,
                    value_start,
                    value_end: self.pos,
                });
            }
            self.whitespace();
            match self.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
        if self.has_duplicate_name(span_base) {
            return None;
        }
        self.spans.truncate(span_base);
        self.names.truncate(name_base);
        Some(logtail)
    }

    fn has_duplicate_name(&mut self, base: usize) -> bool {
        let names = &*self.names;
        let spans = &mut self.spans[base..];
        let name = |&(start, end): &(usize, usize)| &names[start..end];
        if spans.len() <= 16 {
            return spans
                .iter()
                .enumerate()
                .any(|(i, a)| spans[..i].iter().any(|b| name(a) == name(b)));
        }
        heapsort_by_name(spans, names);
        spans.windows(2).any(|w| name(&w[0]) == name(&w[1]))
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.whitespace();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.whitespace();
            self.value(depth)?;
            self.whitespace();
            match self.next()? {
                b',' => continue,
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// Parses a string at `pos`; a member name is unescaped onto `names` for duplicate checks.
    fn string(&mut self, is_name: bool) -> Option<()> {
        self.pos += 1;
        loop {
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => {
                    let unescaped = match self.next()? {
                        c @ (b'"' | b'\\' | b'/') => c,
                        b'b' => 0x08,
                        b'f' => 0x0C,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let c = self.unicode_escape()?;
                            if is_name {
                                let mut buf = [0u8; 4];
                                self.names
                                    .extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            }
                            continue;
                        }
                        _ => return None,
                    };
                    if is_name {
                        self.names.push(unescaped);
                    }
                }
                0x00..=0x1F => return None,
                b => {
                    if is_name {
                        self.names.push(b);
                    }
                }
            }
        }
    }

    /// After `\u`: four hex digits, a surrogate pair in two escapes, never a lone surrogate.
    fn unicode_escape(&mut self) -> Option<char> {
        let high = self.hex4()?;
        if !(0xD800..0xE000).contains(&high) {
            return char::from_u32(high);
        }
        if high >= 0xDC00 || self.next()? != b'\\' || self.next()? != b'u' {
            return None;
        }
        let low = self.hex4()?;
        if !(0xDC00..0xE000).contains(&low) {
            return None;
        }
        char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.src.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        digits
            .iter()
            .try_fold(0u32, |acc, &d| Some(acc * 16 + (d as char).to_digit(16)?))
    }

    pub(crate) fn literal(&mut self, word: &[u8]) -> Option<()> {
        let found = self.src.get(self.pos..self.pos + word.len())? == word;
        self.pos += word.len();
        found.then_some(())
    }

    pub(crate) fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.digits();
        (self.pos > start).then_some(())
    }
}

/// Sorts spans by the names they point to. A heapsort: O(n log n) on any payload, in place, and a
/// fraction of the code of the standard library's sorts (some 3 KB of the browser's wasm).
fn heapsort_by_name(spans: &mut [(usize, usize)], names: &[u8]) {
    let name = |(start, end): (usize, usize)| &names[start..end];
    let sift_down = |spans: &mut [(usize, usize)], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            break;
        }
        if child + 1 < end && name(spans[child]) < name(spans[child + 1]) {
            child += 1;
        }
        if name(spans[root]) >= name(spans[child]) {
            break;
        }
        spans.swap(root, child);
        root = child;
    };
    for root in (0..spans.len() / 2).rev() {
        sift_down(spans, root, spans.len());
    }
    for end in (1..spans.len()).rev() {
        spans.swap(0, end);
        sift_down(spans, 0, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(src: &str) -> Option<ObjectShape> {
        ObjectScanner::default().scan(src.as_bytes())
    }

    #[test]
    fn accepts_exactly_one_object() {
        assert!(scan("{}").is_some());
        assert!(scan(
            "{ \"a\" : [1, -2.5e+3, true, false, null, {\"b\":\"\\u00e9\\ud83d\\ude00\"}] }\n "
        )
        .is_some());
        for bad in [
            "{}{}",
            "{",
            "{\"a\"}",
            "{\"a\":1,}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":\"\u{1}\"}",
            "{\"a\":tru}",
            "[1]",
            " {}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":1}x",
        ] {
            assert_eq!(scan(bad), None, "{bad}");
        }
    }

    #[test]
    fn rejects_duplicate_names_at_any_depth_after_unescaping() {
        assert_eq!(scan("{\"a\":1,\"a\":2}"), None);
        assert_eq!(scan("{\"a\":1,\"\\u0061\":2}"), None);
        assert_eq!(scan("{\"x\":{\"b\":1,\"b\":2}}"), None);
        assert!(scan("{\"a\":{\"a\":1},\"b\":{\"a\":1}}").is_some());
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        assert!(scan(&format!("{{{}}}", many.join(","))).is_some());
        assert_eq!(scan(&format!("{{{},\"k7\":0}}", many.join(","))), None);
    }

    #[test]
    fn heapsort_sorts_by_name() {
        let names = b"dbcaebd";
        let mut spans: Vec<(usize, usize)> = (0..names.len()).map(|i| (i, i + 1)).collect();
        spans.push((0, 2));
        heapsort_by_name(&mut spans, names);
        let sorted: Vec<&[u8]> = spans.iter().map(|&(a, b)| &names[a..b]).collect();
        assert_eq!(
            sorted,
            [&b"a"[..], b"b", b"b", b"c", b"d", b"d", b"db", b"e"]
        );
    }

    #[test]
    fn finds_the_logtail_member() {
        let shape = scan("{\"a\":1, \"logt\\u0061il\" : {\"x\":2} }").unwrap();
        let member = shape.logtail.unwrap();
        assert_eq!(member.key_start, 8);
        assert_eq!(
            &"{\"a\":1, \"logt\\u0061il\" : {\"x\":2} }"[member.value_start..member.value_end],
            "{\"x\":2}"
        );
        assert_eq!(shape.close, 33);
        assert_eq!(scan("{\"a\":{\"logtail\":1}}").unwrap().logtail, None);
    }

    #[test]
    fn deep_nesting_is_not_json() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(300), "]".repeat(300));
        assert_eq!(scan(&deep), None);
    }
}
