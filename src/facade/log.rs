//! `impl log::Log for Logger` (feature `log`). Each record becomes one JSON entry:
//! `{"level":"WARN","target":"app::db","module":"app::db","line":42,"message":"…"}`, at logtail
//! level 0 for error, warn and info, 1 for debug, 2 for trace.

use std::time::Duration;

use super::{common_members, formatted, key, may_ship, write_entry};
use crate::Logger;

/// How long `log::logger().flush()` waits for the upload of what was logged.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The logtail level of a `log` level: verbosity, where 0 is what is always shown.
fn logtail_level(level: log::Level) -> u8 {
    match level {
        log::Level::Error | log::Level::Warn | log::Level::Info => 0,
        log::Level::Debug => 1,
        log::Level::Trace => 2,
    }
}

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        // Filtering is `log`'s max level (set by `install_log`); everything past it is wanted.
        may_ship()
    }

    fn log(&self, record: &log::Record<'_>) {
        write_entry(self, logtail_level(record.level()), |out, _| {
            common_members(
                out,
                record.level().as_str(),
                record.target(),
                record.module_path(),
                record.line(),
            );
            key(out, "message");
            formatted(out, *record.args());
        });
    }

    fn flush(&self) {
        let _ = Logger::flush(self, FLUSH_TIMEOUT);
    }
}

impl Logger {
    /// Makes this logger the `log` crate's global logger, passing records up to `max_level`:
    /// `logger.install_log(log::LevelFilter::Debug)?`. The global logger lives as long as the
    /// program, so call [`Logger::shutdown`] (or `log::logger().flush()`) before exiting.
    /// Fails if a global logger is already set.
    pub fn install_log(&self, max_level: log::LevelFilter) -> Result<(), log::SetLoggerError> {
        log::set_boxed_logger(Box::new(self.clone()))?;
        log::set_max_level(max_level);
        Ok(())
    }
}
