//! `kassa`: the kassa command line: `kassa serve` runs the server, `kassa demo` the demo.

use clap::{Parser, Subcommand};
use kassa_adapters::serve::{self, ServeArgs};

/// kassa payment transaction engine.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Subcommand)]
enum CliCommand {
    /// Runs the engine on an embedded RocksDB with its HTTP/JSON listener; stops gracefully on
    /// SIGINT/SIGTERM. Every flag also reads an environment variable and a config-file key.
    Serve(ServeArgs),
    /// Runs real payments through the engine (accounts, transfers, holds, POS with a secure
    /// code, a virtual bill, a group split, coupons) and prints every outcome and balance.
    Demo,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        CliCommand::Serve(args) => {
            let result = args.resolve().and_then(serve::run);
            if let Err(error) = result {
                eprintln!("kassa serve: {error}");
                std::process::exit(1);
            }
        }
        CliCommand::Demo => kassa_adapters::demo::run(&mut std::io::stdout()).expect("writing to stdout"),
    }
}
