//! `logship-collector`: runs the collector until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use logship_collector::{
    Collector, Options, DEFAULT_MAX_BODY, DEFAULT_MAX_DB_BYTES, DEFAULT_MAX_PENDING_BYTES,
    DEFAULT_MAX_UPLOADS, DEFAULT_MAX_VIEWERS,
};

/// Local collector for logship: accepts uploads, stores each batch once in SQLite, serves the live view.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on (loopback unless you say otherwise).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// SQLite database file.
    #[arg(long, default_value = "./logship.db", conflicts_with = "memory")]
    db: PathBuf,
    /// Keep everything in memory instead of a database file.
    #[arg(long)]
    memory: bool,
    /// Require `Authorization: Bearer TOKEN` on uploads and reads (the live view asks for it once).
    #[arg(long, env = "LOGSHIP_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Largest upload in bytes, on the wire and decompressed.
    #[arg(long, default_value_t = DEFAULT_MAX_BODY)]
    max_body: usize,
    /// Memory that uploads in progress may hold together, in bytes; past it uploads get 503.
    #[arg(long, default_value_t = DEFAULT_MAX_PENDING_BYTES)]
    max_pending_bytes: usize,
    /// Uploads handled at once; more get 503.
    #[arg(long, default_value_t = DEFAULT_MAX_UPLOADS)]
    max_uploads: usize,
    /// Live-view tails open at once; more get 503.
    #[arg(long, default_value_t = DEFAULT_MAX_VIEWERS)]
    max_viewers: usize,
    /// Serve the web pages from this directory instead of the ones built into the executable.
    #[arg(long)]
    www: Option<PathBuf>,
    /// Keep the database files within 1.1 × this many bytes, deleting the oldest entries.
    #[arg(long, default_value_t = DEFAULT_MAX_DB_BYTES)]
    max_db_bytes: u64,
    /// Delete entries older than this: a number and a unit, `d`, `h`, `m` or `s` (`7d`, `12h`, `30m`).
    #[arg(long, value_parser = parse_duration)]
    keep: Option<std::time::Duration>,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let unit = s.len().saturating_sub(1);
    let secs = match s.get(unit..) {
        Some("d") => 86_400,
        Some("h") => 3_600,
        Some("m") => 60,
        Some("s") => 1,
        _ => return Err("use a number and a unit: 7d, 12h, 30m or 45s".into()),
    };
    match s[..unit].parse::<u64>() {
        Ok(n) if n > 0 => Ok(std::time::Duration::from_secs(n.saturating_mul(secs))),
        _ => Err("use a positive whole number before the unit: 7d, 12h, 30m or 45s".into()),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = Options {
        listen: args.listen,
        db: (!args.memory).then_some(args.db),
        token: args.token,
        max_body: args.max_body,
        max_pending_bytes: args.max_pending_bytes,
        max_uploads: args.max_uploads,
        max_viewers: args.max_viewers,
        www_dir: args.www,
        max_db_bytes: args.max_db_bytes,
        keep: args.keep,
    };
    let collector = match Collector::start(opts) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("logship-collector: {e}");
            return ExitCode::FAILURE;
        }
    };
    say(&format!("live view at {}/", collector.url()));
    if let Err(e) = wait_for_signal() {
        eprintln!("logship-collector: cannot wait for signals: {e}");
    }
    say("stopping");
    collector.stop();
    ExitCode::SUCCESS
}

/// A line on stdout; a closed stdout (whoever started us stopped reading) is no reason to fail.
fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "logship-collector: {line}");
}

fn wait_for_signal() -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                _ = term.recv() => Ok(()),
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await
    })
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn keep_durations() {
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        for bad in ["", "7", "d", "0d", "-1h", "1.5h", "7w", "7 d", "1é"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
