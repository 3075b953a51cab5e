//! `new Logger(options)`: the configuration keys in camelCase, into the core's [`Config`].
//!
//! The JS glue checks each option's type (naming the option, in camelCase) against the kinds
//! generated from the key table; the generated readers (`web_options.rs` in OUT_DIR) copy the
//! values into a `Config`, and the core validates it ([`Config::validate`]), its errors named
//! back in camelCase. (Not `Config::from_json`: serde's deserializer for the configuration would
//! add some 20 KB, gzipped, to the browser bundle.)

use std::collections::BTreeMap;

use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

use super::error;
use super::runtime::has_gzip;
use crate::core::config::{Compression, Config, ConfigError, Destination, Format, OnFull};
use crate::core::find;

include!(concat!(env!("OUT_DIR"), "/web_options.rs"));
use crate::core::ids::PrivateId;

#[wasm_bindgen(module = "/src/web/glue.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = checkOptions)]
    fn check_options(options: &JsValue, kinds: &str) -> Result<(), JsValue>;
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

    fn level(&self, key: &str) -> Option<i32> {
        let level = self.get(key)?.as_f64()?;
        Some(level.clamp(i32::MIN as f64, i32::MAX as f64) as i32)
    }

    fn headers(&self, key: &str) -> Option<BTreeMap<String, String>> {
        let headers = self.get(key)?;
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
    pub browser: BrowserOptions,
}

/// Reads and validates the options; the error is a JS `Error` naming the option.
pub(super) fn parse(options: &JsValue) -> Result<Parsed, JsValue> {
    check_options(options, OPTION_KINDS)?;
    let o = Options(options);
    let mut c = Config::default();
    read_config(&o, &mut c)?;
    if let Some(list) = o.get("destinations") {
        for (i, d) in Array::from(&list).iter().enumerate() {
            let destination = read_destination(&Options(&d), &format!("destinations[{i}]."))?;
            c.destinations.push(destination);
        }
    }
    c.validate().map_err(config_error)?;
    for (i, d) in c.destination_configs().iter().enumerate() {
        // Options a browser cannot honour are refused, not quietly replaced.
        let (key, message) = if d.buffer_bytes() as u64 > MAX_BROWSER_BUFFER_BYTES {
            ("buffer_bytes", "must be at most 1 GiB in browsers")
        } else if d.compression == Compression::Zstd {
            (
                "compression",
                "\"zstd\" is not available in browsers: use \"auto\" (gzip), \"gzip\" or \"none\"",
            )
        } else if d.compression == Compression::Gzip && !has_gzip() {
            (
                "compression",
                "\"gzip\" needs CompressionStream, which this browser lacks: use \"auto\" or \"none\"",
            )
        } else {
            continue;
        };
        let key = match c.destinations.is_empty() {
            true => key.to_owned(),
            false => format!("destinations[{i}].{key}"),
        };
        return Err(config_error(ConfigError {
            key,
            message: message.into(),
        }));
    }
    Ok(Parsed {
        config: c,
        browser: read_browser_options(&o),
    })
}

/// A choice's value that is none of its names, `prefix` + `key` (snake_case) naming it. (glue.js
/// refuses such values first; this keeps the rule where the value is read.)
fn unknown_choice(prefix: &str, key: &str, name: &str) -> JsValue {
    config_error(ConfigError {
        key: prefix.to_owned() + key,
        message: "unknown value \"".to_owned() + name + "\"",
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

/// A core configuration error, its key and the keys it mentions in camelCase. A header name
/// after `headers.` stays as it is.
fn config_error(err: ConfigError) -> JsValue {
    let (path, header) = match find(err.key.as_bytes(), b"headers.") {
        Some(at) => err.key.split_at(at + "headers.".len()),
        None => (err.key.as_str(), ""),
    };
    let key = format!("{}{header}", camel(path));
    // The keys the message mentions (the snake_case words), in camelCase too.
    let mut message = String::with_capacity(err.message.len());
    for (i, word) in err.message.split(' ').enumerate() {
        if i > 0 {
            message.push(' ');
        }
        let snake = word.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        match snake && word.contains('_') {
            true => message.push_str(&camel(word)),
            false => message.push_str(word),
        }
    }
    error(format!("invalid option `{key}`: {message}"))
}
