//! `new Logger(options)`: the configuration keys in camelCase, into the core's [`Config`].
//!
//! The JS glue checks each option's type (naming the option, in camelCase) against the kinds
//! generated from the key table, and hands back the values in the table's order (a choice as its
//! index, headers as a flat list of names and values); the generated readers (`web_options.rs` in
//! OUT_DIR) copy them into a `Config`, and the core validates it ([`Config::validate`]), its
//! errors named back in camelCase. (Not `Config::from_json`: serde's deserializer for the
//! configuration would add some 20 KB, gzipped, to the browser bundle.)

use std::collections::BTreeMap;

use js_sys::Array;
use wasm_bindgen::prelude::*;

use super::error;
use super::runtime::has_gzip;
use crate::core::config::{Compression, Config, ConfigError, Destination, Format, OnFull};
use crate::core::find;

include!(concat!(env!("OUT_DIR"), "/web_options.rs"));
use crate::core::ids::PrivateId;

#[wasm_bindgen(module = "/src/web/glue.js")]
extern "C" {
    /// Checks the options; returns the top level's values, then each destination's.
    #[wasm_bindgen(catch, js_name = checkOptions)]
    fn check_options(options: &JsValue, kinds: &str) -> Result<Array, JsValue>;
}

/// Browsers give a page a few GiB of wasm memory at most; each destination allocates its buffer.
const MAX_BROWSER_BUFFER_BYTES: u64 = 1 << 30;

/// One options object's checked values, in the key table's order (`undefined` when absent).
struct Values(Array);

impl Values {
    fn get(&self, index: u32) -> Option<JsValue> {
        let value = self.0.get(index);
        (!value.is_undefined()).then_some(value)
    }

    fn string(&self, index: u32) -> Option<String> {
        self.get(index)?.as_string()
    }

    fn number(&self, index: u32) -> Option<f64> {
        self.get(index)?.as_f64()
    }

    fn count(&self, index: u32) -> Option<u64> {
        Some(self.number(index)? as u64)
    }

    fn size(&self, index: u32) -> Option<usize> {
        Some(self.number(index)? as usize)
    }

    fn choice(&self, index: u32) -> Option<u32> {
        Some(self.number(index)? as u32)
    }

    fn boolean(&self, index: u32) -> Option<bool> {
        self.get(index)?.as_bool()
    }

    /// `as` saturates: a whole number beyond `i32` is clamped.
    fn level(&self, index: u32) -> Option<i32> {
        Some(self.number(index)? as i32)
    }

    fn headers(&self, index: u32) -> Option<BTreeMap<String, String>> {
        let flat = self.get(index)?.unchecked_into::<Array>();
        let mut out = BTreeMap::new();
        // Inserted one by one: collecting into a BTreeMap would link a sort. Read up to the
        // first hole (strings only: glue.js checked them), without asking the length.
        let mut i = 0;
        while let (Some(name), Some(value)) = (flat.get(i).as_string(), flat.get(i + 1).as_string())
        {
            out.insert(name, value);
            i += 2;
        }
        Some(out)
    }

    fn private_id(&self, index: u32, prefix: &str) -> Result<Option<PrivateId>, JsValue> {
        let Some(hex_id) = self.string(index) else {
            return Ok(None);
        };
        PrivateId::parse(&hex_id).map(Some).map_err(|message| {
            config_error(ConfigError {
                key: prefix.to_owned() + "private_id",
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
    let lists = check_options(options, OPTION_KINDS)?;
    let top = Values(lists.get(0).into());
    let mut logger_wide = Config::default();
    read_config(&top, &mut logger_wide);
    let mut c = read_destination(&top, "")?.over(&logger_wide);
    // Each destination's list, up to the end (read without asking the length).
    for i in 1.. {
        let list = lists.get(i);
        if list.is_undefined() {
            break;
        }
        let prefix = format!("destinations[{}].", i - 1);
        let destination = read_destination(&Values(list.into()), &prefix)?;
        c.destinations.push(destination);
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
        browser: read_browser_options(&top),
    })
}

/// Appends `key` in camelCase: `flush_delay_ms` → `flushDelayMs`.
fn push_camel(out: &mut String, key: &str) {
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
}

/// A core configuration error, its key and the keys it mentions in camelCase. A header name
/// after `headers.` stays as it is. (Byte scans, not str patterns: each pattern type links its
/// own searcher into the browser bundle.)
fn config_error(err: ConfigError) -> JsValue {
    let (path, header) = find(err.key.as_bytes(), b"headers.")
        .and_then(|at| err.key.split_at_checked(at + "headers.".len()))
        .unwrap_or((&err.key, ""));
    let mut text = String::from("invalid option `");
    push_camel(&mut text, path);
    text.push_str(header);
    text.push_str("`: ");
    // The keys the message mentions (the snake_case words), in camelCase too.
    let mut rest = err.message.as_str();
    loop {
        let end = rest.bytes().position(|b| b == b' ').unwrap_or(rest.len());
        let word = rest.get(..end).unwrap_or_default();
        let snake = word.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        match snake && word.bytes().any(|b| b == b'_') {
            true => push_camel(&mut text, word),
            false => text.push_str(word),
        }
        let Some(next) = rest.get(end + 1..) else {
            break;
        };
        text.push(' ');
        rest = next;
    }
    error(text)
}
