//! One configuration schema for every door: the structs, names and defaults are generated from
//! the key table (src/core/config_keys.rs, by build.rs; docs/CONFIGURATION.md lists them); this
//! module adds what makes a configuration invalid and what a valid one means.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::batch::BodyFormat;
use super::encode::{EncodeOptions, OBJECT_LIMIT, TEXT_LIMIT, TEXT_LIMIT_LOW_MEMORY};
use super::find;
use super::ids::PrivateId;
use super::secret::without_userinfo;

include!(concat!(env!("OUT_DIR"), "/config.rs"));

/// At most this many `destinations`: each holds its own `buffer_bytes` of memory.
pub const MAX_DESTINATIONS: usize = 16;

/// The smallest spool: a few segments of the smallest size.
pub const MIN_SPOOL_MAX_BYTES: u64 = 16 * 1024;

/// A configuration problem, naming the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, as JSON names it (`flush_delay_ms`, `destinations[1].base_url`,
    /// `headers.X-Name`); empty when the problem is not one key's (malformed JSON).
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// What a collection name (and an OTLP `service.name`) may be (PROTOCOL.md §2).
pub const COLLECTION_RULE: &str = "1 to 128 characters of A-Z a-z 0-9 . _ -";

/// Whether `name` follows [`COLLECTION_RULE`].
pub fn is_valid_collection(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Headers logship sets itself, which configuration may not override.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-length",
    "orig-content-length",
    "logship-batch",
    "host",
];

/// `http(s)://host[:port][/path]`, without a query or fragment. A small check of its own rather
/// than the `url` crate, whose IDNA tables would triple the browser bundle; the runtimes' HTTP
/// clients parse the URL fully anyway.
fn check_base_url(base: &str) -> Result<(), ConfigError> {
    let shown = without_userinfo(base);
    let bad = |message: &str| invalid("base_url", format!("{message}: \"{shown}\""));
    // Byte scans rather than str patterns: every delimiter is ASCII, and this is in the browser
    // bundle too.
    let bytes = base.as_bytes();
    let position = |s: &[u8], delimiter: u8| s.iter().position(|&b| b == delimiter);
    let scheme_end = find(bytes, b"://").unwrap_or(0);
    let scheme = bytes.get(..scheme_end).unwrap_or_default();
    if !scheme.eq_ignore_ascii_case(b"http") && !scheme.eq_ignore_ascii_case(b"https") {
        return Err(bad("must be an http:// or https:// URL with a host"));
    }
    if bytes.iter().any(|&b| b <= b' ' || b == 0x7f || b == b'\\') {
        return Err(bad(
            "must not contain spaces, control characters or backslashes",
        ));
    }
    if bytes.iter().any(|&b| b == b'?' || b == b'#') {
        return Err(bad("must not have a query or fragment"));
    }
    let rest = bytes.get(scheme_end + 3..).unwrap_or_default();
    let authority = rest.split(|&b| b == b'/').next().unwrap_or_default();
    let host_port = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => authority.get(at + 1..).unwrap_or_default(),
        None => authority,
    };
    let port = match host_port.strip_prefix(b"[") {
        Some(v6) => {
            let close = position(v6, b']').ok_or_else(|| bad("invalid host"))?;
            let addr = v6.get(..close).unwrap_or_default();
            let ipv6_char = |&b: &u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';
            if !addr.contains(&b':') || !addr.iter().all(ipv6_char) {
                return Err(bad("invalid IPv6 address"));
            }
            match v6.get(close + 1..).unwrap_or_default() {
                [] => None,
                [b':', port @ ..] => Some(port),
                _ => return Err(bad("invalid host")),
            }
        }
        None => {
            let (host, port) = match position(host_port, b':') {
                Some(at) => (host_port.get(..at), host_port.get(at + 1..)),
                None => (Some(host_port), None),
            };
            let host = host.unwrap_or_default();
            if host.is_empty() {
                return Err(bad("must be an http:// or https:// URL with a host"));
            }
            if host.iter().any(|b| b"<>^|%[]@".contains(b)) {
                return Err(bad("invalid host"));
            }
            port
        }
    };
    if let Some(port) = port.filter(|p| !p.is_empty()) {
        // A u16, in digits only (leading zeros allowed).
        let number = port
            .iter()
            .try_fold(0u16, |n, &b| match b.is_ascii_digit() {
                true => n.checked_mul(10)?.checked_add(u16::from(b - b'0')),
                false => None,
            });
        if number.is_none() {
            return Err(bad("invalid port"));
        }
    }
    Ok(())
}

/// A copy of `headers`, built by insertion: the browser's wasm inserts headers anyway (reading
/// the options), and has no other use for `BTreeMap`'s own `clone` (some 450 bytes).
fn copy_headers(headers: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut copy = BTreeMap::new();
    for (name, value) in headers {
        copy.insert(name.clone(), value.clone());
    }
    copy
}

impl Config {
    /// Parses and validates JSON; an unknown or ill-typed key gives an error naming it.
    pub fn from_json(json: &str) -> Result<Config, ConfigError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|err| {
            let path = err.path().to_string();
            let key = if path == "." { String::new() } else { path };
            invalid(&key, err.into_inner().to_string())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every key's value (and each destination's, over the top-level ones); the error
    /// names the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_spool()?;
        if self.destinations.is_empty() {
            return self.validate_destination();
        }
        if self.destinations.len() > MAX_DESTINATIONS {
            return Err(invalid(
                "destinations",
                format!("at most {MAX_DESTINATIONS} destinations"),
            ));
        }
        for (i, config) in self.destination_configs().iter().enumerate() {
            config.validate_destination().map_err(|e| ConfigError {
                key: format!("destinations[{i}].{}", e.key),
                message: e.message,
            })?;
        }
        Ok(())
    }

    fn validate_spool(&self) -> Result<(), ConfigError> {
        if let Some(dir) = &self.spool_dir {
            if dir.is_empty() {
                return Err(invalid("spool_dir", "must be a directory path"));
            }
            if !self.destinations.is_empty() {
                return Err(invalid(
                    "spool_dir",
                    "works with one destination: leave out destinations",
                ));
            }
        }
        if self.spool_max_bytes < MIN_SPOOL_MAX_BYTES {
            return Err(invalid(
                "spool_max_bytes",
                format!("must be at least {MIN_SPOOL_MAX_BYTES}"),
            ));
        }
        if self.spool_sync_ms > 60_000 {
            return Err(invalid(
                "spool_sync_ms",
                "must be at most 60000 (0 = make durable after every write to disk)",
            ));
        }
        Ok(())
    }

    /// Each destination's own configuration: the `destinations`, each over the top-level keys,
    /// or the top level alone when there are none.
    pub fn destination_configs(&self) -> Vec<Config> {
        if self.destinations.is_empty() {
            // A copy of the top level (through `over`: the browser's wasm has no `Config::clone`).
            return vec![Destination::default().over(self)];
        }
        self.destinations.iter().map(|d| d.over(self)).collect()
    }

    /// Checks a configuration with one destination (the top level, or one resolved destination).
    fn validate_destination(&self) -> Result<(), ConfigError> {
        check_base_url(&self.base_url)?;
        if let Some(backup_url) = &self.backup_url {
            check_base_url(backup_url).map_err(|e| invalid("backup_url", e.message))?;
        }
        if self.failover_probe_ms == 0 {
            return Err(invalid("failover_probe_ms", "must be at least 1"));
        }
        if !is_valid_collection(&self.collection) {
            return Err(invalid("collection", format!("must be {COLLECTION_RULE}")));
        }
        let max_batch = self.max_batch_bytes();
        if !(1024..=16 * 1024 * 1024).contains(&max_batch) {
            return Err(invalid(
                "max_batch_bytes",
                "must be between 1024 and 16 MiB",
            ));
        }
        if self.buffer_bytes() < 2 * max_batch || self.buffer_bytes() as u64 > 1 << 32 {
            return Err(invalid(
                "buffer_bytes",
                format!(
                    "must be at least twice max_batch_bytes ({}) and at most 4 GiB",
                    2 * max_batch
                ),
            ));
        }
        if !(-1..=9).contains(&self.stderr_level) {
            return Err(invalid("stderr_level", "must be between -1 (never) and 9"));
        }
        if self.retry_initial_ms == 0 || self.retry_initial_ms > self.retry_max_ms {
            return Err(invalid(
                "retry_initial_ms",
                "must be at least 1 and at most retry_max_ms",
            ));
        }
        if self.request_timeout_ms == 0 {
            return Err(invalid("request_timeout_ms", "must be at least 1"));
        }
        for (name, value) in &self.headers {
            let key = format!("headers.{name}");
            let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            if name.is_empty() || !name.bytes().all(token) {
                return Err(invalid(&key, "is not a valid header name"));
            }
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(invalid(&key, "is set by logship and cannot be configured"));
            }
            if value.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
                return Err(invalid(&key, "value must not contain control characters"));
            }
        }
        Ok(())
    }

    /// The encoding options; `proc_id` is the logger's random id, used with `include_proc_id`.
    pub fn encode_options(&self, proc_id: u32) -> EncodeOptions {
        EncodeOptions {
            skip_client_time: self.skip_client_time,
            proc_id: self
                .include_proc_id
                .then_some(if proc_id == 0 { 7 } else { proc_id }),
            include_proc_seq: self.include_proc_seq,
            text_limit: if self.low_memory {
                TEXT_LIMIT_LOW_MEMORY
            } else {
                TEXT_LIMIT
            },
            object_limit: self.max_batch_bytes().min(OBJECT_LIMIT),
        }
    }

    /// `POST {base_url}/c/{collection}/{private_id}`, or `{base_url}/v1/logs` for OTLP.
    pub fn upload_url(&self, private_id: &PrivateId) -> String {
        self.upload_url_at(&self.base_url, Some(private_id))
    }

    /// Where uploads go while `base_url` fails, when a `backup_url` is configured.
    pub fn backup_upload_url(&self, private_id: &PrivateId) -> Option<String> {
        let backup_url = self.backup_url.as_deref()?;
        Some(self.upload_url_at(backup_url, Some(private_id)))
    }

    /// The upload address without the private id (a write credential): what people may see.
    pub fn display_url(&self) -> String {
        self.upload_url_at(&without_userinfo(&self.base_url), None)
    }

    fn upload_url_at(&self, base_url: &str, private_id: Option<&PrivateId>) -> String {
        // Without its trailing slashes (a byte scan: no str pattern in the browser bundle).
        let end = base_url
            .bytes()
            .rposition(|b| b != b'/')
            .map_or(0, |i| i + 1);
        let base_url = base_url.get(..end).unwrap_or_default();
        match (self.format, private_id) {
            (Format::Otlp, _) => format!("{base_url}/v1/logs"),
            (Format::Logtail, Some(id)) => {
                format!("{base_url}/c/{}/{}", self.collection, id.to_hex())
            }
            (Format::Logtail, None) => format!("{base_url}/c/{}", self.collection),
        }
    }

    /// How batch bodies are framed; for OTLP the collection is the `service.name`.
    pub fn body_format(&self) -> BodyFormat {
        match self.format {
            Format::Logtail => BodyFormat::Logtail,
            Format::Otlp => BodyFormat::otlp(&self.collection),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"base_url":"http://127.0.0.1:8080","collection":"app.example.com"}"#;

    fn error(json: &str) -> String {
        Config::from_json(json).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let c = Config::from_json(GOOD).unwrap();
        assert_eq!(
            (c.flush_delay_ms, c.max_batch_bytes(), c.buffer_bytes()),
            (2000, 512 * 1024, 32 << 20)
        );
        assert_eq!(
            (
                c.retry_initial_ms,
                c.retry_max_ms,
                c.request_timeout_ms,
                c.stderr_level
            ),
            (1000, 60_000, 45_000, -1)
        );
        let low =
            Config::from_json(r#"{"base_url":"https://x","collection":"a","low_memory":true}"#)
                .unwrap();
        assert_eq!(
            (low.max_batch_bytes(), low.encode_options(0).text_limit),
            (64 * 1024, 4096)
        );
        assert_eq!(low.encode_options(0).proc_id, None);
    }

    #[test]
    fn errors_name_the_key() {
        assert!(
            error(r#"{"base_url":"http://x","collection":"a","flush_delay":1}"#)
                .contains("unknown field `flush_delay`")
        );
        assert!(
            error(r#"{"base_url":"http://x","collection":"a","flush_delay_ms":"soon"}"#)
                .starts_with("flush_delay_ms: invalid type")
        );
        assert!(
            error(r#"{"base_url":"http://x","collection":"a","on_full":"drop_all"}"#)
                .starts_with("on_full: unknown variant")
        );
        assert!(
            error(r#"{"base_url":"http://x","collection":"a","private_id":"xyz"}"#)
                .starts_with("private_id: must be 64")
        );
        assert!(error(r#"{"base_url":"ftp://x","collection":"a"}"#).starts_with("base_url:"));
        assert!(error(r#"{"base_url":"not a url","collection":"a"}"#).starts_with("base_url:"));
        assert!(error(r#"{"base_url":"http://x","collection":"a/b"}"#).starts_with("collection:"));
        assert!(
            error(r#"{"base_url":"http://x","collection":"a","buffer_bytes":1000}"#)
                .starts_with("buffer_bytes:")
        );
        assert!(error(
            r#"{"base_url":"http://x","collection":"a","headers":{"Content-Encoding":"x"}}"#
        )
        .starts_with("headers.Content-Encoding:"));
        assert!(
            error(r#"{"base_url":"http://x","collection":"a","headers":{"X-A":"a\nb"}}"#)
                .starts_with("headers.X-A:")
        );
        assert!(error(r#"{"base_url":"http://x","#).contains("EOF"));
    }

    #[test]
    fn base_url_check() {
        for good in [
            "http://127.0.0.1:8080",
            "https://logs.example.com/",
            "HTTPS://logs.example.com/prefix/path",
            "http://user:pw@host:1",
            "http://[::1]:8080/",
            "http://bücher.example",
        ] {
            assert_eq!(check_base_url(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "logs.example.com",
            "ftp://x",
            "http://",
            "http:///path",
            "http://:80",
            "http://x:port",
            "http://x:70000",
            "http://x/?q=1",
            "http://x/#f",
            "http://a b",
            "http://[::1",
            "http://[zz]:1",
            "http://x<y",
        ] {
            let err = check_base_url(bad).unwrap_err();
            assert_eq!(err.key, "base_url", "{bad}");
        }
    }

    #[test]
    fn otlp_urls_and_names_never_hold_the_private_id() {
        let c = Config::from_json(
            r#"{"base_url":"http://h:4318/","collection":"a","format":"otlp","backup_url":"http://b"}"#,
        )
        .unwrap();
        let id = PrivateId::from_bytes([1; 32]);
        assert_eq!(c.upload_url(&id), "http://h:4318/v1/logs");
        assert_eq!(c.backup_upload_url(&id).unwrap(), "http://b/v1/logs");
        assert_eq!(c.display_url(), "http://h:4318/v1/logs");
        let logtail = Config::from_json(GOOD).unwrap();
        assert_eq!(
            logtail.display_url(),
            "http://127.0.0.1:8080/c/app.example.com"
        );
        assert_eq!(logtail.backup_upload_url(&id), None);
        assert!(
            error(r#"{"base_url":"http://x","collection":"a","format":"protobuf"}"#)
                .starts_with("format: unknown variant")
        );
        assert!(
            error(r#"{"base_url":"http://x","collection":"a","compression":"brotli"}"#)
                .starts_with("compression: unknown variant `brotli`")
        );
        assert!(
            error(r#"{"base_url":"http://x","collection":"a","backup_url":"x"}"#)
                .starts_with("backup_url:")
        );
    }

    #[test]
    fn destinations_take_the_top_level_keys_they_leave_out() {
        let c = Config::from_json(
            r#"{"collection":"app","retry_max_ms":5000,"headers":{"X-A":"1"},"skip_client_time":true,
                "destinations":[
                  {"base_url":"http://one"},
                  {"base_url":"http://two:4318","format":"otlp","headers":{},"retry_max_ms":1500,
                   "backup_url":"http://three","flush_delay_ms":0}
                ]}"#,
        )
        .unwrap();
        let d = c.destination_configs();
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].base_url.as_str(), d[0].collection.as_str()),
            ("http://one", "app")
        );
        assert_eq!(
            (d[0].retry_max_ms, d[0].headers.len(), d[0].format),
            (5000, 1, Format::Logtail)
        );
        assert_eq!(
            (d[1].retry_max_ms, d[1].headers.len(), d[1].format),
            (1500, 0, Format::Otlp)
        );
        assert_eq!(
            (d[1].flush_delay_ms, d[1].backup_url.as_deref()),
            (0, Some("http://three"))
        );
        assert!(d
            .iter()
            .all(|d| d.skip_client_time && d.destinations.is_empty()));
        let single = Config::from_json(GOOD).unwrap().destination_configs();
        assert_eq!(single.len(), 1);
        assert_eq!(single[0].base_url, "http://127.0.0.1:8080");
    }

    #[test]
    fn destination_errors_name_the_destination() {
        assert_eq!(
            error(
                r#"{"collection":"a","destinations":[{"base_url":"http://x"},{"collection":"b"}]}"#
            )
            .split(':')
            .next(),
            Some("destinations[1].base_url")
        );
        assert!(error(
            r#"{"base_url":"http://x","collection":"a","destinations":[{"skip_client_time":true}]}"#
        )
        .starts_with("destinations[0].skip_client_time: unknown field"));
        assert!(error(
            r#"{"base_url":"http://x","collection":"a","destinations":[{"retry_initial_ms":0}]}"#
        )
        .starts_with("destinations[0].retry_initial_ms:"));
        let many = format!(
            r#"{{"base_url":"http://x","collection":"a","destinations":[{}]}}"#,
            vec!["{}"; MAX_DESTINATIONS + 1].join(",")
        );
        assert!(error(&many).starts_with("destinations:"));
    }

    /// The key table itself (build.rs reads it too); only some of it is checked here.
    #[cfg(not(target_arch = "wasm32"))]
    #[allow(dead_code)]
    mod key_table {
        include!("config_keys.rs");
    }

    /// docs/CONFIGURATION.md is what build.rs generates from the key table.
    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn configuration_docs_are_generated_from_the_key_table() {
        let generated = include_str!(concat!(env!("OUT_DIR"), "/CONFIGURATION.md"));
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONFIGURATION.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/CONFIGURATION.md is stale: run `LOGSHIP_UPDATE_DOCS=1 cargo build -p logship` and commit it"
        );
    }

    /// The READMEs name every key their door takes (README.md in snake_case, the npm README's
    /// option table in camelCase, and that table no other option), and the stats in order.
    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn the_readmes_list_the_keys_of_the_table() {
        use key_table::{KEYS, STATS};
        let read = |path: &str| {
            std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
        };
        let camel = |name: &str| {
            let mut parts = name.split('_');
            let mut out = parts.next().unwrap_or_default().to_owned();
            for part in parts {
                out.push_str(&part[..1].to_ascii_uppercase());
                out.push_str(&part[1..]);
            }
            out
        };
        let readme = read("README.md");
        for key in KEYS.iter().filter(|k| k.doors.rust || k.doors.c) {
            assert!(
                readme.contains(&format!("`{}`", key.name)),
                "README.md does not list `{}`",
                key.name
            );
        }
        let npm = read("bindings/npm/README.md");
        let table: Vec<&str> = npm
            .lines()
            .skip_while(|line| !line.starts_with("| option |"))
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .collect();
        let listed: Vec<String> = table
            .iter()
            .flat_map(|row| row.split('|').nth(1).unwrap_or_default().split(','))
            .map(|name| name.trim().trim_matches('`').to_owned())
            .collect();
        let js: Vec<String> = KEYS
            .iter()
            .filter(|k| k.doors.js)
            .map(|k| camel(k.name))
            .collect();
        for name in &js {
            assert!(
                listed.contains(name),
                "bindings/npm/README.md's option table does not list `{name}`"
            );
        }
        for name in &listed {
            assert!(
                js.contains(name),
                "bindings/npm/README.md lists `{name}`, which is not a browser option"
            );
        }
        let stats: Vec<&str> = STATS.iter().map(|s| s.name).collect();
        assert!(
            readme.contains(&stats.join(", ")),
            "README.md: the stats are {stats:?}"
        );
        let js_stats: Vec<String> = stats.iter().map(|s| camel(s)).collect();
        assert!(
            npm.contains(&js_stats.join(", ")),
            "bindings/npm/README.md: the stats are {js_stats:?}"
        );
    }

    #[test]
    fn upload_url() {
        let c = Config::from_json(r#"{"base_url":"http://h:1/","collection":"a"}"#).unwrap();
        let id = PrivateId::from_bytes([1; 32]);
        assert_eq!(
            c.upload_url(&id),
            format!("http://h:1/c/a/{}", "01".repeat(32))
        );
    }
}
