//! `new Logger(options)`: DESIGN.md's configuration in camelCase, into the core's [`Config`].
//!
//! The JS glue checks each option's type (naming the option, in camelCase); this module copies
//! the values into a `Config`, and the core validates it ([`Config::validate`]), its errors named
//! back in camelCase. (Not `Config::from_json`: serde's deserializer for the configuration would
//! add some 20 KB, gzipped, to the browser bundle.)

use std::collections::BTreeMap;

use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

use super::error;
use crate::core::config::{Compression, Config, ConfigError, Destination, Format, OnFull};
use crate::core::ids::PrivateId;

#[wasm_bindgen(module = "/src/web/glue.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = checkOptions)]
    fn check_options(options: &JsValue) -> Result<(), JsValue>;
    fn option(options: &JsValue, key: &str) -> JsValue;
}

/// Browsers give a page a few GiB of wasm memory at most; each destination allocates its buffer.
const MAX_BROWSER_BUFFER_BYTES: u64 = 1 << 30;

/// A checked options object (types are right, or the key is absent).
struct Options<'a>(&'a JsValue);

impl Options<'_> {
    fn get(&self, key: &str) -> Option<JsValue> {
        let value = option(self.0, key);
        (!value.is_undefined()).then_some(value)
    }

    fn string(&self, key: &str) -> Option<String> {
        self.get(key)?.as_string()
    }

    fn count(&self, key: &str) -> Option<u64> {
        Some(self.get(key)?.as_f64()? as u64)
    }

    fn size(&self, key: &str) -> Option<usize> {
        Some(usize::try_from(self.count(key)?).unwrap_or(usize::MAX))
    }

    fn boolean(&self, key: &str) -> Option<bool> {
        self.get(key)?.as_bool()
    }

    fn headers(&self) -> Option<BTreeMap<String, String>> {
        let headers = self.get("headers")?;
        let mut out = BTreeMap::new();
        // Inserted one by one: collecting into a BTreeMap would link a sort.
        for pair in Object::entries(headers.unchecked_ref()).iter() {
            let pair = Array::from(&pair);
            if let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                out.insert(name, value);
            }
        }
        Some(out)
    }

    fn on_full(&self) -> Option<OnFull> {
        Some(match self.string("onFull")?.as_str() {
            "drop_newest" => OnFull::DropNewest,
            _ => OnFull::DropOldest,
        })
    }

    fn compression(&self) -> Option<Compression> {
        Some(match self.string("compression")?.as_str() {
            "gzip" => Compression::Gzip,
            "zstd" => Compression::Zstd,
            "none" => Compression::None,
            _ => Compression::Auto,
        })
    }

    fn format(&self) -> Option<Format> {
        Some(match self.string("format")?.as_str() {
            "otlp" => Format::Otlp,
            _ => Format::Logtail,
        })
    }

    fn private_id(&self, prefix: &str) -> Result<Option<PrivateId>, JsValue> {
        let Some(hex_id) = self.string("privateId") else {
            return Ok(None);
        };
        PrivateId::parse(&hex_id).map(Some).map_err(|message| {
            config_error(ConfigError {
                key: format!("{prefix}private_id"),
                message: message.into(),
            })
        })
    }
}

/// What `new Logger(options)` asked for.
pub(super) struct Parsed {
    pub config: Config,
    pub capture_console: bool,
    pub capture_errors: bool,
}

/// Reads and validates the options; the error is a JS `Error` naming the option.
pub(super) fn parse(options: &JsValue) -> Result<Parsed, JsValue> {
    check_options(options)?;
    let o = Options(options);
    let mut c = Config::default();
    if let Some(v) = o.string("baseUrl") {
        c.base_url = v;
    }
    if let Some(v) = o.string("collection") {
        c.collection = v;
    }
    c.private_id = o.private_id("")?;
    c.format = o.format().unwrap_or(c.format);
    c.flush_delay_ms = o.count("flushDelayMs").unwrap_or(c.flush_delay_ms);
    c.max_batch_bytes = o.size("maxBatchBytes");
    c.buffer_bytes = o.size("bufferBytes");
    c.on_full = o.on_full().unwrap_or(c.on_full);
    c.low_memory = o.boolean("lowMemory").unwrap_or(c.low_memory);
    c.compression = o.compression().unwrap_or(c.compression);
    c.skip_client_time = o.boolean("skipClientTime").unwrap_or(false);
    c.include_proc_id = o.boolean("includeProcId").unwrap_or(false);
    c.include_proc_seq = o.boolean("includeProcSeq").unwrap_or(false);
    if let Some(level) = o.get("stderrLevel").and_then(|v| v.as_f64()) {
        c.stderr_level = level.clamp(i32::MIN as f64, i32::MAX as f64) as i32;
    }
    c.headers = o.headers().unwrap_or_default();
    c.retry_initial_ms = o.count("retryInitialMs").unwrap_or(c.retry_initial_ms);
    c.retry_max_ms = o.count("retryMaxMs").unwrap_or(c.retry_max_ms);
    c.request_timeout_ms = o.count("requestTimeoutMs").unwrap_or(c.request_timeout_ms);
    c.backup_url = o.string("backupUrl");
    c.failover_probe_ms = o.count("failoverProbeMs").unwrap_or(c.failover_probe_ms);
    if let Some(list) = o.get("destinations") {
        for (i, d) in Array::from(&list).iter().enumerate() {
            let d = Options(&d);
            c.destinations.push(Destination {
                base_url: d.string("baseUrl"),
                collection: d.string("collection"),
                private_id: d.private_id(&format!("destinations[{i}]."))?,
                format: d.format(),
                headers: d.headers(),
                backup_url: d.string("backupUrl"),
                failover_probe_ms: d.count("failoverProbeMs"),
                compression: d.compression(),
                flush_delay_ms: d.count("flushDelayMs"),
                max_batch_bytes: d.size("maxBatchBytes"),
                buffer_bytes: d.size("bufferBytes"),
                on_full: d.on_full(),
                retry_initial_ms: d.count("retryInitialMs"),
                retry_max_ms: d.count("retryMaxMs"),
                request_timeout_ms: d.count("requestTimeoutMs"),
            });
        }
    }
    c.validate().map_err(config_error)?;
    for (i, d) in c.destination_configs().iter().enumerate() {
        if d.buffer_bytes() as u64 > MAX_BROWSER_BUFFER_BYTES {
            let key = match c.destinations.is_empty() {
                true => "buffer_bytes".to_owned(),
                false => format!("destinations[{i}].buffer_bytes"),
            };
            return Err(config_error(ConfigError {
                key,
                message: "must be at most 1 GiB in browsers".into(),
            }));
        }
    }
    Ok(Parsed {
        config: c,
        capture_console: o.boolean("captureConsole").unwrap_or(false),
        capture_errors: o.boolean("captureErrors").unwrap_or(false),
    })
}

/// `flush_delay_ms` → `flushDelayMs`.
fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.push(c.to_ascii_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// The configuration keys the core's messages mention by name.
const MENTIONED_KEYS: &[&str] = &["max_batch_bytes", "retry_max_ms", "backup_url"];

/// A core configuration error, its key and the keys it mentions in camelCase. A header name
/// after `headers.` stays as it is.
fn config_error(err: ConfigError) -> JsValue {
    let (path, header) = match err.key.find("headers.") {
        Some(at) => err.key.split_at(at + "headers.".len()),
        None => (err.key.as_str(), ""),
    };
    let key = format!("{}{header}", camel(path));
    let mut message = err.message;
    for mentioned in MENTIONED_KEYS {
        message = message.replace(mentioned, &camel(mentioned));
    }
    error(format!("invalid option `{key}`: {message}"))
}
