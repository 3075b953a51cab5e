//! What is never shown: the private id (a write credential), the upload URLs that hold it,
//! header values (an `Authorization`) and URL userinfo (`http://user:password@host`). These
//! are held in types whose `Debug` redacts them, and every message logship prints or returns
//! passes through a [`Redactor`] that knows the secrets of its destination.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use super::config::Config;
use super::find;
use super::ids::PrivateId;

/// What stands where a secret was.
pub const REDACTED: &str = "<redacted>";

/// A string that is never shown: its `Debug` is `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Holds `value` as a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// `url` without its userinfo (`user:password@`): what an address may show.
pub fn without_userinfo(url: &str) -> Cow<'_, str> {
    let Some((scheme_end, authority_end)) = authority_span(url) else {
        return Cow::Borrowed(url);
    };
    // `get`, not indexing: these are character boundaries, and the browser bundle would carry
    // the panic's formatting (some 3 KB) for each slice it cannot prove so.
    let authority = url
        .as_bytes()
        .get(scheme_end..authority_end)
        .unwrap_or_default();
    match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => Cow::Owned(
            url.get(..scheme_end).unwrap_or_default().to_owned()
                + url.get(scheme_end + at + 1..).unwrap_or_default(),
        ),
        None => Cow::Borrowed(url),
    }
}

/// Where `url`'s authority starts (after `://`) and ends (at `/`, `?`, `#` or the end).
fn authority_span(url: &str) -> Option<(usize, usize)> {
    let start = find(url.as_bytes(), b"://")? + 3;
    let end = (url.bytes().skip(start))
        .position(|b| b"/?#".contains(&b))
        .map_or(url.len(), |i| start + i);
    Some((start, end))
}

/// The secret part of `url`'s userinfo: the password of `user:password`, or the whole of a
/// userinfo without one (`https://token@host`).
fn userinfo_secret(url: &str) -> Option<&str> {
    let (start, end) = authority_span(url)?;
    let authority = url.get(start..end)?;
    let userinfo = authority.get(..authority.bytes().rposition(|b| b == b'@')?)?;
    match userinfo.bytes().position(|b| b == b':') {
        Some(colon) => userinfo.get(colon + 1..),
        None => Some(userinfo),
    }
}

/// Takes a destination's secrets out of any message before it is printed or kept.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// The secrets of destinations: their private ids, header values and URL userinfo.
    pub fn new<'a>(destinations: impl Iterator<Item = (&'a Config, &'a PrivateId)>) -> Self {
        let mut redactor = Redactor::default();
        for (config, private_id) in destinations {
            redactor.add(private_id.to_hex());
            for value in config.headers.values() {
                redactor.add(value.clone());
            }
            let urls = [Some(&config.base_url), config.backup_url.as_ref()];
            for secret in urls
                .into_iter()
                .flatten()
                .filter_map(|u| userinfo_secret(u))
            {
                redactor.add(secret.to_owned());
            }
        }
        redactor
    }

    /// Keeps the secrets longest first: one that contains another is replaced whole.
    fn add(&mut self, secret: String) {
        if !secret.is_empty() {
            let at = (self.secrets.iter()).position(|s| s.len() < secret.len());
            self.secrets
                .insert(at.unwrap_or(self.secrets.len()), secret);
        }
    }

    /// `message` with every secret replaced by `<redacted>`, in one pass (so a mark is never
    /// searched again). A plain byte comparison: secrets are few and short, messages rare, and
    /// the browser bundle pays for every string searcher it holds.
    pub fn redact(&self, message: String) -> String {
        let bytes = message.as_bytes();
        let (mut out, mut copied, mut at) = (String::new(), 0, 0);
        while at < bytes.len() {
            match (self.secrets.iter()).find(|s| bytes[at..].starts_with(s.as_bytes())) {
                // A match of valid UTF-8 starts and ends on character boundaries.
                Some(secret) => {
                    out.push_str(message.get(copied..at).unwrap_or_default());
                    out.push_str(REDACTED);
                    at += secret.len();
                    copied = at;
                }
                None => at += 1,
            }
        }
        match copied {
            0 => message,
            _ => out + message.get(copied..).unwrap_or_default(),
        }
    }
}

/// How the generated `Debug` of [`Config`] and its destinations shows a field: addresses
/// without userinfo, header values redacted, everything else as it is.
pub struct Shown<'a, T>(pub &'a T);

impl fmt::Debug for Shown<'_, String> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&without_userinfo(self.0), f)
    }
}

impl fmt::Debug for Shown<'_, Option<String>> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0.as_deref().map(without_userinfo), f)
    }
}

impl fmt::Debug for Shown<'_, BTreeMap<String, String>> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|name| (name, Secret::new(""))))
            .finish()
    }
}

impl fmt::Debug for Shown<'_, Option<BTreeMap<String, String>>> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0.as_ref().map(Shown), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_taken_out_of_addresses_only() {
        assert_eq!(without_userinfo("http://u:pw@h:1/p@x"), "http://h:1/p@x");
        assert_eq!(without_userinfo("https://tok@h"), "https://h");
        assert_eq!(without_userinfo("http://h/a@b?c@d"), "http://h/a@b?c@d");
        assert_eq!(without_userinfo("not a url@all"), "not a url@all");
        assert_eq!(userinfo_secret("http://u:pw@h/"), Some("pw"));
        assert_eq!(userinfo_secret("https://token@h"), Some("token"));
        assert_eq!(userinfo_secret("http://h/u@x"), None);
    }

    #[test]
    fn a_secret_inside_the_redaction_mark_or_another_secret_is_still_replaced_once() {
        let mut redactor = Redactor::default();
        redactor.add("red".into());
        redactor.add("a-red-token".into());
        assert_eq!(
            redactor.redact("red a-red-token red".into()),
            "<redacted> <redacted> <redacted>"
        );
    }

    #[test]
    fn every_secret_of_a_destination_is_redacted() {
        let id = PrivateId::from_bytes([7; 32]);
        let config = Config::from_json(
            r#"{"base_url":"http://u:pw@h","collection":"c","backup_url":"http://b:sec@h2",
                "headers":{"Authorization":"Bearer tok"}}"#,
        )
        .unwrap();
        let redactor = Redactor::new(std::iter::once((&config, &id)));
        let message = format!("{} Bearer tok u:pw b:sec fine", id.to_hex());
        assert_eq!(
            redactor.redact(message),
            "<redacted> <redacted> u:<redacted> b:<redacted> fine"
        );
    }
}
