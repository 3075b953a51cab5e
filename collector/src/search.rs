//! Search queries: plain words, never a syntax error.
//!
//! Each whitespace-separated word of the query must occur in the entry's text. A word is split into
//! tokens (runs of letters and digits, compared case-insensitively, as FTS5's default tokenizer does), which
//! must follow each other; the last token matches as a prefix. So `blk_3886` finds `blk_38865049064139660`
//! and `Refused conn` finds `connection refused` only as two separate words, in any order.

/// A parsed query: one phrase (a list of lowercase tokens) per word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    phrases: Vec<Vec<String>>,
}

fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

impl Query {
    /// `None` when the query has no letters or digits at all.
    pub fn parse(q: &str) -> Option<Query> {
        let phrases: Vec<Vec<String>> = q
            .split_whitespace()
            .map(|word| tokens(word).collect::<Vec<_>>())
            .filter(|p| !p.is_empty())
            .collect();
        (!phrases.is_empty()).then_some(Query { phrases })
    }

    /// The FTS5 MATCH expression: `"tok1 tok2"* AND "tok3"*` (tokens hold no quotes, so nothing to escape).
    pub fn fts(&self) -> String {
        self.phrases
            .iter()
            .map(|p| format!("\"{}\"*", p.join(" ")))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// Whether `text` matches, by the same rules as the FTS5 expression.
    pub fn matches(&self, text: &str) -> bool {
        // A cheap necessary condition first, which rejects most entries of a search for rare words: in
        // ASCII text (where lowercasing is per byte), every token occurs as a substring.
        if text.is_ascii() {
            let lower = text.to_ascii_lowercase();
            if !self
                .phrases
                .iter()
                .flatten()
                .all(|t| lower.contains(t.as_str()))
            {
                return false;
            }
        }
        let words: Vec<String> = tokens(text).collect();
        self.phrases.iter().all(|phrase| {
            let (last, init) = phrase.split_last().expect("phrases are never empty");
            words
                .windows(phrase.len())
                .any(|w| w[..init.len()] == *init && w[init.len()].starts_with(last.as_str()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Query;

    #[test]
    fn words_become_prefix_phrases() {
        let q = Query::parse("  blk_3886 ERROR; ").unwrap();
        assert_eq!(q.fts(), r#""blk 3886"* AND "error"*"#);
        assert!(q.matches("Error in blk_38865049064139660 now"));
        assert!(!q.matches("blk 12 3886 error"));
        assert!(!q.matches("blk_38865049064139660"));
        assert!(!Query::parse("zz")
            .unwrap()
            .matches("blk_38865049064139660 error"));
        assert!(Query::parse("ÉTÉ k")
            .unwrap()
            .matches("un été \u{212A}elvin"));
        assert_eq!(Query::parse(" -- ; "), None);
    }

    #[test]
    fn quotes_and_operators_are_plain_text() {
        let q = Query::parse(r#""NOT" OR (a*)"#).unwrap();
        assert_eq!(q.fts(), r#""not"* AND "or"* AND "a"*"#);
        assert!(q.matches("not or a"));
        assert!(q.matches("NOTHING ORDERS apples"));
        assert!(!q.matches("not or"));
    }
}
