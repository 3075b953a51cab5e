//! One configuration schema for every door (DESIGN.md "Configuration"): the JSON names, the
//! defaults, and what makes a configuration invalid.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::encode::{EncodeOptions, TEXT_LIMIT, TEXT_LIMIT_LOW_MEMORY};
use super::ids::PrivateId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFull {
    /// Drop the oldest queued entries to make room (the default).
    #[default]
    DropOldest,
    /// Refuse the new write.
    DropNewest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// zstd on native, gzip in browsers.
    #[default]
    Auto,
    Zstd,
    Gzip,
    None,
}

pub const DEFAULT_MAX_BATCH_BYTES: usize = 256 * 1024;
pub const LOW_MEMORY_MAX_BATCH_BYTES: usize = 64 * 1024;
pub const DEFAULT_BUFFER_BYTES: usize = 4 * 1024 * 1024;
pub const LOW_MEMORY_BUFFER_BYTES: usize = 512 * 1024;

/// The configuration, as JSON (C and JS doors) or through `Logger::builder()` (Rust).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub base_url: String,
    pub collection: String,
    /// Generated when absent.
    pub private_id: Option<PrivateId>,
    /// How long the first write waits for company before an upload (0 = upload at once).
    pub flush_delay_ms: u64,
    /// Default 256 KiB, or 64 KiB with `low_memory`.
    pub max_batch_bytes: Option<usize>,
    /// Bounds every byte held; default 4 MiB, or 512 KiB with `low_memory`.
    pub buffer_bytes: Option<usize>,
    pub on_full: OnFull,
    pub low_memory: bool,
    pub compression: Compression,
    pub skip_client_time: bool,
    pub include_proc_id: bool,
    pub include_proc_seq: bool,
    /// Echo writes at or below this level to stderr; -1 = never.
    pub stderr_level: i32,
    pub headers: BTreeMap<String, String>,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    pub request_timeout_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            base_url: String::new(),
            collection: String::new(),
            private_id: None,
            flush_delay_ms: 2000,
            max_batch_bytes: None,
            buffer_bytes: None,
            on_full: OnFull::DropOldest,
            low_memory: false,
            compression: Compression::Auto,
            skip_client_time: false,
            include_proc_id: false,
            include_proc_seq: false,
            stderr_level: -1,
            headers: BTreeMap::new(),
            retry_initial_ms: 1000,
            retry_max_ms: 60_000,
            request_timeout_ms: 45_000,
        }
    }
}

/// A configuration problem, naming the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
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

/// Headers logship sets itself, which configuration may not override.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-length",
    "orig-content-length",
    "logship-batch",
    "host",
];

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

    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = url::Url::parse(&self.base_url)
            .map_err(|e| invalid("base_url", format!("{e}: {:?}", self.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(invalid(
                "base_url",
                "must be an http:// or https:// URL with a host",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("base_url", "must not have a query or fragment"));
        }
        let collection_ok = !self.collection.is_empty()
            && self.collection.len() <= 128
            && self
                .collection
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !collection_ok {
            return Err(invalid(
                "collection",
                "must be 1 to 128 characters of A-Z a-z 0-9 . _ -",
            ));
        }
        let max_batch = self.max_batch_bytes();
        if !(1024..=16 * 1024 * 1024).contains(&max_batch) {
            return Err(invalid(
                "max_batch_bytes",
                "must be between 1024 and 16 MiB",
            ));
        }
        if self.buffer_bytes() < 2 * max_batch || self.buffer_bytes() > 1 << 32 {
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

    pub fn max_batch_bytes(&self) -> usize {
        let default = if self.low_memory {
            LOW_MEMORY_MAX_BATCH_BYTES
        } else {
            DEFAULT_MAX_BATCH_BYTES
        };
        self.max_batch_bytes.unwrap_or(default)
    }

    pub fn buffer_bytes(&self) -> usize {
        let default = if self.low_memory {
            LOW_MEMORY_BUFFER_BYTES
        } else {
            DEFAULT_BUFFER_BYTES
        };
        self.buffer_bytes.unwrap_or(default)
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
            object_limit: self.max_batch_bytes(),
        }
    }

    /// `POST {base_url}/c/{collection}/{private_id}`.
    pub fn upload_url(&self, private_id: &PrivateId) -> String {
        format!(
            "{}/c/{}/{}",
            self.base_url.trim_end_matches('/'),
            self.collection,
            private_id.to_hex()
        )
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
            (2000, 256 * 1024, 4 << 20)
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
    fn upload_url() {
        let c = Config::from_json(r#"{"base_url":"http://h:1/","collection":"a"}"#).unwrap();
        let id = PrivateId::from_bytes([1; 32]);
        assert_eq!(
            c.upload_url(&id),
            format!("http://h:1/c/a/{}", "01".repeat(32))
        );
    }
}
