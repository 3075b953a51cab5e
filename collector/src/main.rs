//! `logship-collector`: runs the collector until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use logship_collector::{
    Collector, Options, DEFAULT_MAX_BODY, DEFAULT_MAX_PENDING_BYTES, DEFAULT_MAX_UPLOADS,
    DEFAULT_MAX_VIEWERS,
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
