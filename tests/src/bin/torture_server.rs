//! `kassa serve` for the network crash torture: the same arguments and the same code as the
//! `kassa` binary's `serve` (kassa_adapters::serve), built inside this package so that the test
//! can start (and SIGKILL) it by path.

use clap::Parser;
use kassa_adapters::serve::{self, ServeArgs};

/// kassa serve (for tests).
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = Cli::parse().serve.resolve().and_then(serve::run) {
        eprintln!("kassa serve: {error}");
        std::process::exit(1);
    }
}
