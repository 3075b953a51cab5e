//! Generates, into OUT_DIR:
//! - from the one table of configuration keys (src/core/config_keys.rs, see `config_code`): the
//!   configuration code of every door, the TypeScript interfaces and docs/CONFIGURATION.md. With
//!   `LOGSHIP_UPDATE_DOCS=1` it also refreshes the committed docs/CONFIGURATION.md; a test fails
//!   when that copy is stale.
//! - the C header (`logship.h`) from src/ffi.rs with cbindgen. With `LOGSHIP_UPDATE_HEADER=1` it
//!   also refreshes the committed copy in include/. tests/c_door.rs fails when it is stale.
//!
//! Ordinary builds never write into the source tree.

use std::path::PathBuf;

fn main() {
    config_code::generate();
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LOGSHIP_UPDATE_HEADER");

    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let config = cbindgen::Config::from_file(manifest_dir.join("cbindgen.toml"))
        .unwrap_or_else(|e| panic!("cbindgen.toml: {e}"));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(manifest_dir.join("src/ffi.rs"))
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen could not generate logship.h from src/ffi.rs: {e}"));

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    bindings.write_to_file(out_dir.join("logship.h"));
    if std::env::var_os("LOGSHIP_UPDATE_HEADER").is_some_and(|v| v == "1") {
        bindings.write_to_file(manifest_dir.join("include/logship.h"));
    }
}

/// The configuration code, generated from the key table.
mod config_code {
    use std::fmt::Write as _;
    use std::path::PathBuf;

    include!("src/core/config_keys.rs");

    const TABLE: &str = "src/core/config_keys.rs";
    /// Keys whose Rust builder setter is written by hand (it takes a path).
    const HAND_WRITTEN_SETTERS: &[&str] = &["spool_dir"];

    pub fn generate() {
        println!("cargo:rerun-if-changed={TABLE}");
        println!("cargo:rerun-if-env-changed=LOGSHIP_UPDATE_DOCS");
        let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
        let write = |name: &str, text: String| {
            std::fs::write(out_dir.join(name), text)
                .unwrap_or_else(|e| panic!("cannot write {name} into OUT_DIR: {e}"))
        };
        write("config.rs", config_rs());
        write("stats.rs", stats_rs());
        write("builder.rs", builder_rs());
        write("web_options.rs", web_options_rs());
        write("logship.d.ts", typescript());
        let docs = configuration_md();
        write("CONFIGURATION.md", docs.clone());
        if std::env::var_os("LOGSHIP_UPDATE_DOCS").is_some_and(|v| v == "1") {
            let manifest_dir =
                PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
            std::fs::write(manifest_dir.join("docs/CONFIGURATION.md"), docs)
                .unwrap_or_else(|e| panic!("cannot write docs/CONFIGURATION.md: {e}"));
        }
    }

    fn camel(name: &str) -> String {
        let mut out = String::new();
        let mut upper = false;
        for c in name.chars() {
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

    /// A doc line for JS readers: the key names it quotes in camelCase.
    fn js_doc(doc: &str) -> String {
        let mut doc = doc.to_owned();
        for key in KEYS {
            doc = doc.replace(
                &format!("`{}`", key.name),
                &format!("`{}`", camel(key.name)),
            );
        }
        doc
    }

    fn native(key: &Key) -> bool {
        key.doors.rust || key.doors.c
    }

    fn rust_type(key: &Key) -> String {
        match key.kind {
            Kind::Text => "String".into(),
            Kind::OptionalText => "Option<String>".into(),
            Kind::Flag => "bool".into(),
            Kind::Count => "u64".into(),
            Kind::Size => "Option<usize>".into(),
            Kind::Level => "i32".into(),
            Kind::Choice(choice) => choice.rust.into(),
            Kind::Headers => "BTreeMap<String, String>".into(),
            Kind::PrivateId => "Option<PrivateId>".into(),
            Kind::Destinations => "Vec<Destination>".into(),
        }
    }

    /// Whether the field is an `Option` already (a destination's override is then the same type).
    fn optional(key: &Key) -> bool {
        matches!(key.kind, Kind::OptionalText | Kind::Size | Kind::PrivateId)
    }

    fn bytes(n: u64) -> String {
        match n {
            n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
            n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
            n => n.to_string(),
        }
    }

    /// The default as the docs show it.
    fn shown_default(key: &Key) -> String {
        match (key.default, key.kind) {
            (KeyDefault::Required, _) => "required".into(),
            (KeyDefault::Absent, _) => "none".into(),
            (KeyDefault::Random, _) => "random".into(),
            (KeyDefault::Number(n), _) => n.to_string(),
            (KeyDefault::Bytes(n), _) => bytes(n),
            (KeyDefault::Flag(b), _) => b.to_string(),
            (KeyDefault::FirstVariant, Kind::Choice(c)) => format!("`{}`", c.variants[0].name),
            (KeyDefault::FirstVariant, _) => panic!("{}: only a choice has variants", key.name),
            (KeyDefault::Empty, Kind::Headers) => "`{}`".into(),
            (KeyDefault::Empty, _) => "none".into(),
        }
    }

    /// The default as a Rust expression.
    fn rust_default(key: &Key) -> String {
        match (key.default, key.kind) {
            (KeyDefault::Number(n), _) => n.to_string(),
            (KeyDefault::Bytes(_), Kind::Size) => "None".into(),
            (KeyDefault::Bytes(n), _) => n.to_string(),
            (KeyDefault::Flag(b), _) => b.to_string(),
            (KeyDefault::FirstVariant, Kind::Choice(c)) => {
                format!("{}::{}", c.rust, c.variants[0].rust)
            }
            _ => "Default::default()".into(),
        }
    }

    fn doc_lines(out: &mut String, indent: &str, lines: &[&str]) {
        for line in lines {
            writeln!(out, "{indent}/// {line}").unwrap();
        }
    }

    fn key_doc(key: &Key) -> String {
        let mut doc = format!("{} Default: {}", key.doc, shown_default(key));
        if let Some(low) = key.low_memory {
            write!(doc, " ({} with `low_memory`)", bytes(low)).unwrap();
        }
        doc.push('.');
        doc
    }

    fn choices() -> Vec<&'static Choice> {
        let mut out: Vec<&'static Choice> = Vec::new();
        for key in KEYS {
            if let Kind::Choice(c) = key.kind {
                if !out.iter().any(|seen| seen.rust == c.rust) {
                    out.push(c);
                }
            }
        }
        out
    }

    const HEADER: &str =
        "// Generated by build.rs from src/core/config_keys.rs: edit the table, not this.\n\n";

    fn config_rs() -> String {
        let mut out = String::from(HEADER);
        for choice in choices() {
            doc_lines(&mut out, "", &[choice.doc]);
            out.push_str("#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]\n");
            writeln!(out, "pub enum {} {{", choice.rust).unwrap();
            for (i, v) in choice.variants.iter().enumerate() {
                doc_lines(&mut out, "    ", &[v.doc]);
                if i == 0 {
                    out.push_str("    #[default]\n");
                }
                writeln!(
                    out,
                    "    #[serde(rename = \"{}\")]\n    {},",
                    v.name, v.rust
                )
                .unwrap();
            }
            out.push_str("}\n\n");
            writeln!(
                out,
                "#[cfg(target_arch = \"wasm32\")]\nimpl {} {{",
                choice.rust
            )
            .unwrap();
            out.push_str("    /// The value configured as `name`, if it is one.\n");
            out.push_str(
                "    pub(crate) fn from_name(name: &str) -> Option<Self> {\n        match name {\n",
            );
            for v in choice.variants {
                writeln!(out, "            \"{}\" => Some(Self::{}),", v.name, v.rust).unwrap();
            }
            out.push_str("            _ => None,\n        }\n    }\n}\n\n");
        }

        out.push_str("/// The configuration, as JSON (C door, `Config::from_json`) or through `Logger::builder()`\n");
        out.push_str("/// (Rust); the browser's options are its keys in camelCase. See docs/CONFIGURATION.md.\n");
        out.push_str("#[derive(Debug, Clone, Deserialize)]\n#[serde(deny_unknown_fields, default)]\npub struct Config {\n");
        for key in KEYS.iter().filter(|k| native(k)) {
            doc_lines(&mut out, "    ", &[&key_doc(key)]);
            writeln!(out, "    pub {}: {},", key.name, rust_type(key)).unwrap();
        }
        out.push_str("}\n\n");

        out.push_str("impl Default for Config {\n    fn default() -> Self {\n        Config {\n");
        for key in KEYS.iter().filter(|k| native(k)) {
            writeln!(out, "            {}: {},", key.name, rust_default(key)).unwrap();
        }
        out.push_str("        }\n    }\n}\n\n");

        out.push_str("/// One entry of `destinations`. Every key left out takes the top-level value. The other keys\n");
        out.push_str("/// (they shape entries, or the logger) are logger-wide: every destination receives the same entries.\n");
        out.push_str("#[derive(Debug, Clone, Default, Deserialize)]\n#[serde(deny_unknown_fields, default)]\npub struct Destination {\n");
        let per_destination: Vec<&Key> = KEYS.iter().filter(|k| k.per_destination).collect();
        for key in &per_destination {
            doc_lines(&mut out, "    ", &[key.doc]);
            let ty = rust_type(key);
            let ty = if optional(key) {
                ty
            } else {
                format!("Option<{ty}>")
            };
            writeln!(out, "    pub {}: {ty},", key.name).unwrap();
        }
        out.push_str("}\n\n");

        out.push_str("impl Destination {\n    /// The configuration of this destination alone: its keys over `defaults`.\n");
        out.push_str("    pub fn over(&self, defaults: &Config) -> Config {\n        let d = defaults.clone();\n        Config {\n");
        for key in &per_destination {
            let combine = if optional(key) { "or" } else { "unwrap_or" };
            let copy = matches!(
                key.kind,
                Kind::Flag | Kind::Count | Kind::Size | Kind::Level | Kind::Choice(_)
            );
            let clone = if copy { "" } else { ".clone()" };
            writeln!(
                out,
                "            {0}: self.{0}{clone}.{combine}(d.{0}),",
                key.name
            )
            .unwrap();
        }
        out.push_str(
            "            destinations: Vec::new(),\n            ..d\n        }\n    }\n}\n\n",
        );

        for key in KEYS.iter().filter(|k| matches!(k.kind, Kind::Size)) {
            let (KeyDefault::Bytes(default), Some(low)) = (key.default, key.low_memory) else {
                panic!(
                    "{}: a size needs a default and a low-memory default",
                    key.name
                );
            };
            let upper = key.name.to_ascii_uppercase();
            writeln!(
                out,
                "/// `{}` by default.\npub const DEFAULT_{upper}: usize = {default};",
                key.name
            )
            .unwrap();
            writeln!(out, "/// `{}` by default with `low_memory`.\npub const LOW_MEMORY_{upper}: usize = {low};\n", key.name).unwrap();
        }
        out.push_str("impl Config {\n");
        for key in KEYS.iter().filter(|k| matches!(k.kind, Kind::Size)) {
            let upper = key.name.to_ascii_uppercase();
            writeln!(
                out,
                "    /// `{0}`, or its default (which depends on `low_memory`).",
                key.name
            )
            .unwrap();
            writeln!(out, "    pub fn {0}(&self) -> usize {{\n        let default = if self.low_memory {{ LOW_MEMORY_{upper} }} else {{ DEFAULT_{upper} }};\n        self.{0}.unwrap_or(default)\n    }}\n", key.name).unwrap();
        }
        out.push_str("}\n");
        out
    }

    fn stats_rs() -> String {
        let mut out = String::from(HEADER);
        out.push_str("/// A snapshot of a logger's counters. Every non-empty write ends up counted in exactly one of\n");
        out.push_str("/// `uploaded`, `dropped` or `rejected`, or is still queued.\n");
        out.push_str("#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]\npub struct Stats {\n");
        for field in STATS {
            doc_lines(&mut out, "    ", &[field.doc]);
            writeln!(out, "    pub {}: u64,", field.name).unwrap();
        }
        out.push_str("}\n\n#[cfg(target_arch = \"wasm32\")]\nimpl Stats {\n");
        out.push_str("    /// Each counter with its JS name, in order.\n");
        writeln!(
            out,
            "    pub(crate) fn js_fields(&self) -> [(&'static str, u64); {}] {{\n        [",
            STATS.len()
        )
        .unwrap();
        for field in STATS {
            writeln!(
                out,
                "            (\"{}\", self.{}),",
                camel(field.name),
                field.name
            )
            .unwrap();
        }
        out.push_str("        ]\n    }\n}\n");
        out
    }

    fn builder_rs() -> String {
        let mut out = String::from(HEADER);
        out.push_str("/// One setter per configuration key, named after it.\nimpl Builder {\n");
        for key in KEYS.iter().filter(|k| k.doors.rust) {
            if HAND_WRITTEN_SETTERS.contains(&key.name) {
                continue;
            }
            let (ty, value) = match key.kind {
                Kind::Text => ("&str", "value.to_owned()".to_string()),
                Kind::OptionalText => ("&str", "Some(value.to_owned())".into()),
                Kind::Flag => ("bool", "value".into()),
                Kind::Count => ("u64", "value".into()),
                Kind::Size => ("usize", "Some(value)".into()),
                Kind::Level => ("i32", "value".into()),
                Kind::Choice(c) => (c.rust, "value".into()),
                Kind::Headers => ("BTreeMap<String, String>", "value".into()),
                // Written by hand: parsed in `build`, and one destination at a time.
                Kind::PrivateId | Kind::Destinations => continue,
            };
            doc_lines(&mut out, "    ", &[&key_doc(key)]);
            writeln!(out, "    pub fn {0}(mut self, value: {ty}) -> Self {{\n        self.config.{0} = {value};\n        self\n    }}\n", key.name).unwrap();
        }
        out.push_str("}\n");
        out
    }

    /// What glue.js checks: each option's type, the destination options and the native-only ones.
    /// What glue.js checks, as JSON: each browser option's type (a choice: its names), the
    /// options a destination may set, the native-only keys.
    fn js_option_kinds() -> String {
        let quoted = |name: &str| format!("\"{name}\"");
        let kind = |key: &Key| -> String {
            match key.kind {
                Kind::Text | Kind::OptionalText | Kind::PrivateId => quoted("string"),
                Kind::Flag => quoted("boolean"),
                Kind::Count | Kind::Size => quoted("count"),
                Kind::Level => quoted("integer"),
                Kind::Choice(c) => {
                    let names: Vec<String> = c.variants.iter().map(|v| quoted(v.name)).collect();
                    format!("[{}]", names.join(","))
                }
                Kind::Headers => quoted("headers"),
                Kind::Destinations => quoted("destinations"),
            }
        };
        let js = KEYS.iter().filter(|k| k.doors.js);
        let options: Vec<String> = js
            .clone()
            .map(|k| format!("{}:{}", quoted(&camel(k.name)), kind(k)))
            .collect();
        let destination: Vec<String> = js
            .filter(|k| k.per_destination)
            .map(|k| quoted(&camel(k.name)))
            .collect();
        let native_only: Vec<String> = KEYS
            .iter()
            .filter(|k| !k.doors.js)
            .map(|k| quoted(&camel(k.name)))
            .collect();
        format!(
            "{{\"options\":{{{}}},\"destination\":[{}],\"nativeOnly\":[{}]}}",
            options.join(","),
            destination.join(","),
            native_only.join(",")
        )
    }

    fn web_options_rs() -> String {
        let mut out = String::from(HEADER);
        writeln!(out, "/// Each option's type, the destination options and the native-only ones, for glue.js's\n/// `checkOptions`.\nconst OPTION_KINDS: &str = r#\"{}\"#;\n", js_option_kinds()).unwrap();
        let read = |key: &Key, target: &str, destination: bool| -> Option<String> {
            let js = camel(key.name);
            let getter = match key.kind {
                Kind::Text | Kind::OptionalText => format!("o.string(\"{js}\")"),
                Kind::Flag => format!("o.boolean(\"{js}\")"),
                Kind::Count => format!("o.count(\"{js}\")"),
                Kind::Size => format!("o.size(\"{js}\")"),
                Kind::Level => format!("o.level(\"{js}\")"),
                Kind::Choice(c) => format!(
                    "o.string(\"{js}\").map(|name| {}::from_name(&name).ok_or_else(|| unknown_choice(prefix, \"{}\", &name))).transpose()?",
                    c.rust, key.name
                ),
                Kind::Headers => format!("o.headers(\"{js}\")"),
                Kind::PrivateId => "o.private_id(prefix)?".into(),
                Kind::Destinations => return None,
            };
            Some(match (destination, optional(key)) {
                (true, _) => format!("        {}: {getter},\n", key.name),
                (false, true) => format!("    {target}.{} = {getter};\n", key.name),
                (false, false) => format!(
                    "    if let Some(value) = {getter} {{\n        {target}.{} = value;\n    }}\n",
                    key.name
                ),
            })
        };
        out.push_str("/// Reads the top-level options (checked by glue.js) into `c`; `destinations` is read by hand.\n");
        out.push_str("fn read_config(o: &Options, c: &mut Config) -> Result<(), JsValue> {\n    let prefix = \"\";\n");
        for key in KEYS.iter().filter(|k| k.doors.js && native(k)) {
            out.push_str(&read(key, "c", false).unwrap_or_default());
        }
        out.push_str("    Ok(())\n}\n\n");
        out.push_str(
            "/// Reads one (checked) entry of `destinations`; `prefix` names it in errors.\n",
        );
        out.push_str("fn read_destination(o: &Options, prefix: &str) -> Result<Destination, JsValue> {\n    Ok(Destination {\n");
        for key in KEYS.iter().filter(|k| k.doors.js && k.per_destination) {
            out.push_str(&read(key, "", true).unwrap_or_default());
        }
        out.push_str("    })\n}\n\n");
        out.push_str("/// The browser-only options.\npub(super) struct BrowserOptions {\n");
        for key in KEYS.iter().filter(|k| k.doors.js && !native(k)) {
            doc_lines(&mut out, "    ", &[key.doc]);
            writeln!(out, "    pub {}: bool,", key.name).unwrap();
        }
        out.push_str(
            "}\n\nfn read_browser_options(o: &Options) -> BrowserOptions {\n    BrowserOptions {\n",
        );
        for key in KEYS.iter().filter(|k| k.doors.js && !native(k)) {
            assert!(
                matches!(key.kind, Kind::Flag),
                "{}: browser-only keys are flags",
                key.name
            );
            writeln!(
                out,
                "        {}: o.boolean(\"{}\").unwrap_or(false),",
                key.name,
                camel(key.name)
            )
            .unwrap();
        }
        out.push_str("    }\n}\n");
        out
    }

    fn ts_type(key: &Key) -> String {
        match key.kind {
            Kind::Text | Kind::OptionalText | Kind::PrivateId => "string".into(),
            Kind::Flag => "boolean".into(),
            Kind::Count | Kind::Size | Kind::Level => "number".into(),
            Kind::Choice(c) => {
                let names: Vec<String> = c
                    .variants
                    .iter()
                    .map(|v| format!("\"{}\"", v.name))
                    .collect();
                names.join(" | ")
            }
            Kind::Headers => "Record<string, string>".into(),
            Kind::Destinations => "DestinationOptions[]".into(),
        }
    }

    fn typescript() -> String {
        let mut out = String::new();
        let field = |out: &mut String, key: &Key| {
            writeln!(
                out,
                "  /** {} */\n  {}?: {};",
                js_doc(&key_doc(key)),
                camel(key.name),
                ts_type(key)
            )
            .unwrap();
        };
        out.push_str("\n/** Options of `new Logger(options)`: the configuration keys in camelCase (docs/CONFIGURATION.md). */\n");
        out.push_str("export interface LoggerOptions extends DestinationOptions {\n");
        for key in KEYS.iter().filter(|k| k.doors.js && !k.per_destination) {
            field(&mut out, key);
        }
        out.push_str("}\n\n/** What each destination may set (at the top level: the first, or only, destination). */\n");
        out.push_str("export interface DestinationOptions {\n");
        for key in KEYS.iter().filter(|k| k.doors.js && k.per_destination) {
            field(&mut out, key);
        }
        out.push_str("}\n\n/** Loss accounting: every non-empty write ends up in exactly one of uploaded, dropped or rejected, or is still queued. */\n");
        out.push_str("export interface LogshipStats {\n");
        for stat in STATS {
            writeln!(
                out,
                "  /** {} */\n  {}: number;",
                js_doc(stat.doc),
                camel(stat.name)
            )
            .unwrap();
        }
        out.push_str("}\n");
        out
    }

    fn configuration_md() -> String {
        let mut out = String::new();
        out.push_str("# Configuration\n\n");
        out.push_str(
            "<!-- Generated by build.rs from src/core/config_keys.rs: edit the table, then run\n",
        );
        out.push_str("     `LOGSHIP_UPDATE_DOCS=1 cargo build -p logship`. A test fails when this file is stale. -->\n\n");
        out.push_str("Every door takes the same keys: the Rust builder (`Logger::builder().flush_delay_ms(500)`) and\n");
        out.push_str("`Config` by their names, the C door (`log_init`) and `Config::from_json` as JSON, the browser\n");
        out.push_str("(`new Logger(options)`) in camelCase (`flushDelayMs`). An unknown key, a value of the wrong type\n");
        out.push_str("or an unknown choice (`\"on_full\": \"drop_middle\"`) is an error that names the key.\n\n");
        out.push_str("Doors: **R** Rust, **C** C, **JS** browser. *Per destination*: an entry of `destinations`\n");
        out.push_str("may set it; the others are logger-wide.\n\n");
        out.push_str("| key | JS option | type | default | low-memory default | doors | per destination | |\n");
        out.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for key in KEYS {
            let ty = match key.kind {
                Kind::Text => "string".into(),
                Kind::OptionalText => "string".into(),
                Kind::Flag => "boolean".into(),
                Kind::Count => "integer ≥ 0".into(),
                Kind::Size => "bytes".into(),
                Kind::Level => "integer".into(),
                Kind::Choice(c) => c
                    .variants
                    .iter()
                    .map(|v| format!("`{}`", v.name))
                    .collect::<Vec<_>>()
                    .join(" \\| "),
                Kind::Headers => "object of strings".into(),
                Kind::PrivateId => "64 hex".into(),
                Kind::Destinations => "list of objects".into(),
            };
            let low = key.low_memory.map_or(String::new(), bytes);
            let doors: Vec<&str> = [
                (key.doors.rust, "R"),
                (key.doors.c, "C"),
                (key.doors.js, "JS"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, door)| *door)
            .collect();
            let per = if key.per_destination { "yes" } else { "" };
            let doc = key.doc.replace('|', "\\|");
            writeln!(
                out,
                "| `{}` | `{}` | {ty} | {} | {low} | {} | {per} | {doc} |",
                key.name,
                camel(key.name),
                shown_default(key),
                doors.join(" ")
            )
            .unwrap();
        }
        out.push_str("\n## Choices\n\n");
        for choice in choices() {
            writeln!(out, "{} (`{}`):\n", choice.doc, choice.rust).unwrap();
            for v in choice.variants {
                writeln!(out, "- `{}`: {}", v.name, v.doc).unwrap();
            }
            out.push('\n');
        }
        out.push_str("## Stats\n\n");
        out.push_str("`stats()` (Rust, JS) and `log_stats()` (C) return these counters, in this order; in JS in\n");
        out.push_str("camelCase. Every non-empty write ends up counted in exactly one of `uploaded`, `dropped` or\n");
        out.push_str("`rejected`, or is still queued.\n\n");
        for stat in STATS {
            writeln!(out, "- `{}`: {}", stat.name, stat.doc).unwrap();
        }
        out
    }
}
