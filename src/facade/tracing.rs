//! A `tracing_subscriber::Layer` (feature `tracing`). Each event becomes one JSON entry:
//! `{"level":"INFO","target":"app","module":"app::http","line":7,"message":"…",
//! "fields":{"status":200},"spans":["request","db"]}` — the event's `message` at the top, its
//! other fields under `fields` (so they can never collide with the entry's own members), and the
//! names of the spans it happened in, outermost first. Logtail level 0 for error, warn and info,
//! 1 for debug, 2 for trace.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::{common_members, formatted, key, signed, string, unsigned, write_entry};
use crate::Logger;

/// Ships every event it sees through a [`Logger`]:
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// let logger = logship::Logger::builder()
///     .base_url("http://127.0.0.1:8080")
///     .collection("myapp.example.com")
///     .build()?;
/// tracing_subscriber::registry()
///     .with(logship::TracingLayer::new(logger.clone()))
///     .init();
/// tracing::info!(user = 7, "signed in");
/// # Ok::<(), logship::Error>(())
/// ```
///
/// Filter as with any layer (`.with_filter(LevelFilter::INFO)`).
#[derive(Debug, Clone)]
pub struct TracingLayer {
    logger: Logger,
}

impl TracingLayer {
    /// A layer that writes every event to `logger`.
    pub fn new(logger: Logger) -> Self {
        TracingLayer { logger }
    }
}

impl Logger {
    /// A [`TracingLayer`] shipping through this logger.
    pub fn tracing_layer(&self) -> TracingLayer {
        TracingLayer::new(self.clone())
    }
}

/// The logtail level of a tracing level: verbosity, where 0 is what is always shown.
fn logtail_level(level: &Level) -> u8 {
    match *level {
        Level::ERROR | Level::WARN | Level::INFO => 0,
        Level::DEBUG => 1,
        Level::TRACE => 2,
    }
}

impl<S> tracing_subscriber::Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        write_entry(&self.logger, logtail_level(meta.level()), |out, fields| {
            common_members(
                out,
                meta.level().as_str(),
                meta.target(),
                meta.module_path(),
                meta.line(),
            );
            fields.push(b'{');
            event.record(&mut Fields { entry: out, fields });
            if fields.len() > 1 {
                fields.push(b'}');
                key(out, "fields");
                out.extend_from_slice(fields);
            }
            if let Some(scope) = ctx.event_scope(event) {
                key(out, "spans");
                out.push(b'[');
                for (i, span) in scope.from_root().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    string(out, span.name());
                }
                out.push(b']');
            }
        });
    }
}

/// Writes an event's `message` into the entry and its other fields into `fields` (an object
/// being built, opened with `{`).
struct Fields<'a> {
    entry: &'a mut Vec<u8>,
    fields: &'a mut Vec<u8>,
}

impl Fields<'_> {
    fn member(&mut self, field: &Field) -> &mut Vec<u8> {
        if field.name() == "message" {
            key(self.entry, "message");
            self.entry
        } else {
            key(self.fields, field.name());
            self.fields
        }
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        string(self.member(field), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        signed(self.member(field), value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        unsigned(self.member(field), value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let _ = std::io::Write::write_fmt(self.member(field), format_args!("{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let _ = std::io::Write::write_fmt(self.member(field), format_args!("{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let out = self.member(field);
        if value.is_finite() {
            let _ = std::io::Write::write_fmt(out, format_args!("{value}"));
        } else {
            // JSON has no NaN or infinity.
            formatted(out, format_args!("{value}"));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        let text: &[u8] = if value { b"true" } else { b"false" };
        self.member(field).extend_from_slice(text);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        formatted(self.member(field), format_args!("{value:?}"));
    }
}
