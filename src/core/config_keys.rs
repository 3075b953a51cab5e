// The one table of configuration keys and of the stats fields. Not a module: the root build.rs
// reads it (`include!`) and generates from it the `Config` and `Destination` structs, their
// defaults and the override rule, the enums, the Rust builder setters, the browser door's option
// names, types and parsing, the TypeScript interfaces and docs/CONFIGURATION.md
// (`LOGSHIP_UPDATE_DOCS=1 cargo build -p logship` refreshes the committed copy). Add a key here,
// then write its validation (src/core/config.rs) and its use.

/// Which doors take a key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Doors {
    /// `Logger::builder()` and `Config` (Rust).
    pub rust: bool,
    /// `log_init(json)` (C); also `Config::from_json`.
    pub c: bool,
    /// `new Logger(options)` (browser), in camelCase.
    pub js: bool,
}

/// Every door.
pub const ALL: Doors = Doors { rust: true, c: true, js: true };
/// Native only (Rust and C).
pub const NATIVE: Doors = Doors { rust: true, c: true, js: false };
/// The browser only.
pub const BROWSER: Doors = Doors { rust: false, c: false, js: true };

/// One value of a choice key.
pub struct Variant {
    /// As configured (`drop_oldest`).
    pub name: &'static str,
    /// The Rust variant (`DropOldest`).
    pub rust: &'static str,
    pub doc: &'static str,
}

/// A key whose value is one of a few names (a Rust enum).
pub struct Choice {
    /// The Rust enum (`OnFull`).
    pub rust: &'static str,
    pub doc: &'static str,
    /// The first one is the default.
    pub variants: &'static [Variant],
}

/// What a key holds.
#[derive(Clone, Copy)]
pub enum Kind {
    /// A string (`String`).
    Text,
    /// A string that may be absent (`Option<String>`).
    OptionalText,
    /// `bool`.
    Flag,
    /// A whole number, 0 or more (`u64`).
    Count,
    /// A size in bytes whose default depends on `low_memory` (`Option<usize>`, read through the
    /// method of the same name).
    Size,
    /// A signed whole number (`i32`).
    Level,
    /// One of a few names.
    Choice(&'static Choice),
    /// Header names to values (`BTreeMap<String, String>`).
    Headers,
    /// 64 lowercase hex characters (`Option<PrivateId>`).
    PrivateId,
    /// A list of destination objects (`Vec<Destination>`).
    Destinations,
}

/// A key's default.
#[derive(Clone, Copy)]
pub enum KeyDefault {
    /// No default: the key must be given.
    Required,
    /// Absent unless given.
    Absent,
    /// Generated when absent.
    Random,
    Number(i64),
    /// A number of bytes (shown in KiB or MiB).
    Bytes(u64),
    /// A number of bytes that differs between native programs and browsers.
    PlatformBytes { native: u64, browser: u64 },
    Flag(bool),
    /// The first variant of a choice.
    FirstVariant,
    /// An empty map or list.
    Empty,
}

/// One configuration key.
pub struct Key {
    /// The Rust, C and JSON name (snake_case); the browser's is its camelCase form.
    pub name: &'static str,
    pub kind: Kind,
    pub default: KeyDefault,
    /// The default with `low_memory` (only for `Kind::Size`).
    pub low_memory: Option<u64>,
    pub doors: Doors,
    /// Whether an entry of `destinations` may set it (else it is logger-wide).
    pub per_destination: bool,
    /// One line: what it does.
    pub doc: &'static str,
}

pub const ON_FULL: Choice = Choice {
    rust: "OnFull",
    doc: "What a write does when the buffer is full.",
    variants: &[
        Variant { name: "drop_oldest", rust: "DropOldest", doc: "Drop the oldest queued entries to make room (the default)." },
        Variant { name: "drop_newest", rust: "DropNewest", doc: "Refuse the new write." },
    ],
};

pub const COMPRESSION: Choice = Choice {
    rust: "Compression",
    doc: "How upload bodies are compressed (bodies of 256 bytes or less never are).",
    variants: &[
        Variant { name: "auto", rust: "Auto", doc: "zstd on native, gzip in browsers (the default)." },
        Variant { name: "zstd", rust: "Zstd", doc: "zstd (native only: `new Logger` refuses it)." },
        Variant { name: "gzip", rust: "Gzip", doc: "gzip." },
        Variant { name: "none", rust: "None", doc: "No compression." },
    ],
};

pub const FORMAT: Choice = Choice {
    rust: "Format",
    doc: "What an upload looks like on the wire.",
    variants: &[
        Variant { name: "logtail", rust: "Logtail", doc: "`POST {base_url}/c/{collection}/{private_id}`, a JSON array of entries (the default)." },
        Variant { name: "otlp", rust: "Otlp", doc: "`POST {base_url}/v1/logs`, OTLP/HTTP JSON; the collection is the `service.name`." },
    ],
};

/// Every key, in the order the docs list them.
pub const KEYS: &[Key] = &[
    Key { name: "base_url", kind: Kind::Text, default: KeyDefault::Required, low_memory: None, doors: ALL, per_destination: true,
          doc: "The collector's address, `http(s)://host[:port][/path]`; uploads go to `{base_url}/c/{collection}/{private_id}`." },
    Key { name: "collection", kind: Kind::Text, default: KeyDefault::Required, low_memory: None, doors: ALL, per_destination: true,
          doc: "The collection name: 1 to 128 of `A-Z a-z 0-9 . _ -` (e.g. `myapp.example.com`)." },
    Key { name: "private_id", kind: Kind::PrivateId, default: KeyDefault::Random, low_memory: None, doors: ALL, per_destination: true,
          doc: "64 lowercase hex characters. A write credential, never shown: the public id is its SHA-256." },
    Key { name: "format", kind: Kind::Choice(&FORMAT), default: KeyDefault::FirstVariant, low_memory: None, doors: ALL, per_destination: true,
          doc: "`logtail`, or `otlp`: OTLP/HTTP JSON to `{base_url}/v1/logs`." },
    Key { name: "flush_delay_ms", kind: Kind::Count, default: KeyDefault::Number(2000), low_memory: None, doors: ALL, per_destination: true,
          doc: "How long the first write waits for company before an upload (0 = upload at once)." },
    Key { name: "max_batch_bytes", kind: Kind::Size, default: KeyDefault::Bytes(512 * 1024), low_memory: Some(64 * 1024), doors: ALL, per_destination: true,
          doc: "The upload body limit, 1 KiB to 16 MiB." },
    Key { name: "buffer_bytes", kind: Kind::Size, default: KeyDefault::PlatformBytes { native: 32 * 1024 * 1024, browser: 4 * 1024 * 1024 }, low_memory: Some(512 * 1024), doors: ALL, per_destination: true,
          doc: "Bounds every byte held, queued or uploading (the batch in flight and its compressed form included): at least twice `max_batch_bytes`. Taps hold at most as much again (16 subscriptions, a sixteenth each)." },
    Key { name: "on_full", kind: Kind::Choice(&ON_FULL), default: KeyDefault::FirstVariant, low_memory: None, doors: ALL, per_destination: true,
          doc: "When the buffer is full: `drop_oldest` entries, or `drop_newest` (refuse the new write)." },
    Key { name: "low_memory", kind: Kind::Flag, default: KeyDefault::Flag(false), low_memory: None, doors: ALL, per_destination: false,
          doc: "Text entries are cut at 4096 bytes instead of 16384; smaller default batch and buffer." },
    Key { name: "compression", kind: Kind::Choice(&COMPRESSION), default: KeyDefault::FirstVariant, low_memory: None, doors: ALL, per_destination: true,
          doc: "`auto` (zstd on native, gzip in browsers), `zstd`, `gzip` or `none`." },
    Key { name: "skip_client_time", kind: Kind::Flag, default: KeyDefault::Flag(false), low_memory: None, doors: ALL, per_destination: false,
          doc: "Leave out `logtail.client_time`." },
    Key { name: "include_proc_id", kind: Kind::Flag, default: KeyDefault::Flag(false), low_memory: None, doors: ALL, per_destination: false,
          doc: "Add `logtail.proc_id` (random per logger)." },
    Key { name: "include_proc_seq", kind: Kind::Flag, default: KeyDefault::Flag(false), low_memory: None, doors: ALL, per_destination: false,
          doc: "Add `logtail.proc_seq` (1, 2, …)." },
    Key { name: "stderr_level", kind: Kind::Level, default: KeyDefault::Number(-1), low_memory: None, doors: ALL, per_destination: false,
          doc: "Also print writes at or below this level to stderr (the console in browsers); -1 = never." },
    Key { name: "headers", kind: Kind::Headers, default: KeyDefault::Empty, low_memory: None, doors: ALL, per_destination: true,
          doc: "Extra headers on every upload (e.g. `Authorization`); a destination's replace the top-level ones." },
    Key { name: "retry_initial_ms", kind: Kind::Count, default: KeyDefault::Number(1000), low_memory: None, doors: ALL, per_destination: true,
          doc: "The first back-off after a failed upload, at least 1 and at most `retry_max_ms`." },
    Key { name: "retry_max_ms", kind: Kind::Count, default: KeyDefault::Number(60_000), low_memory: None, doors: ALL, per_destination: true,
          doc: "The longest back-off between attempts." },
    Key { name: "request_timeout_ms", kind: Kind::Count, default: KeyDefault::Number(45_000), low_memory: None, doors: ALL, per_destination: true,
          doc: "How long one upload attempt may take." },
    Key { name: "backup_url", kind: Kind::OptionalText, default: KeyDefault::Absent, low_memory: None, doors: ALL, per_destination: true,
          doc: "Where uploads go after repeated failures at `base_url`, until it answers again." },
    Key { name: "failover_probe_ms", kind: Kind::Count, default: KeyDefault::Number(30_000), low_memory: None, doors: ALL, per_destination: true,
          doc: "While uploads go to `backup_url`, how often `base_url` is tried again." },
    Key { name: "destinations", kind: Kind::Destinations, default: KeyDefault::Empty, low_memory: None, doors: ALL, per_destination: false,
          doc: "Several places to ship every entry to, each with its own queue, retries and stats; the top-level keys are their defaults." },
    Key { name: "spool_dir", kind: Kind::OptionalText, default: KeyDefault::Absent, low_memory: None, doors: NATIVE, per_destination: false,
          doc: "A directory for the durable disk spool (created 0700; one logger at a time; refused if another user owns it or group or others may write it); absent: memory only." },
    Key { name: "spool_max_bytes", kind: Kind::Count, default: KeyDefault::Bytes(64 * 1024 * 1024), low_memory: None, doors: NATIVE, per_destination: false,
          doc: "Bounds the spool's files (at least 16 KiB); past it the oldest segments are dropped, and counted." },
    Key { name: "spool_sync_ms", kind: Kind::Count, default: KeyDefault::Number(200), low_memory: None, doors: NATIVE, per_destination: false,
          doc: "How often spooled entries are made durable (fsync), at most 60000: what a crash can lose at most." },
    Key { name: "capture_console", kind: Kind::Flag, default: KeyDefault::Flag(false), low_memory: None, doors: BROWSER, per_destination: false,
          doc: "Forward `console.debug/log/info/warn/error` (they still print)." },
    Key { name: "capture_errors", kind: Kind::Flag, default: KeyDefault::Flag(false), low_memory: None, doors: BROWSER, per_destination: false,
          doc: "Forward uncaught errors and unhandled promise rejections as JSON entries." },
];

/// One counter of `Stats` (PROTOCOL.md §4), in every door.
pub struct StatsField {
    /// The Rust and C name; the browser's is its camelCase form.
    pub name: &'static str,
    pub doc: &'static str,
}

/// The counters, in the order every door lists them.
pub const STATS: &[StatsField] = &[
    StatsField { name: "written", doc: "Non-empty writes accepted or refused by `write` (refused ones are also in `dropped`)." },
    StatsField { name: "uploaded", doc: "Entries in batches the server acknowledged with 2xx." },
    StatsField { name: "dropped", doc: "Entries lost for lack of buffer space, or still queued at shutdown." },
    StatsField { name: "rejected", doc: "Entries the server refused (413 for a single entry, other 4xx) or redirected (3xx, never followed)." },
    StatsField { name: "retries", doc: "Upload attempts that were retried." },
    StatsField { name: "bytes_on_wire", doc: "Body bytes sent, compressed where compression was used, over all attempts." },
    StatsField { name: "queued_bytes", doc: "Bytes held right now: queued records plus the batch being uploaded." },
    StatsField { name: "beaconed", doc: "Entries handed to `navigator.sendBeacon` at page exit (browsers only): sent, but no server acknowledged them." },
];
