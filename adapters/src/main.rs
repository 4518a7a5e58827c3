//! `kassa`: the kassa command line. `kassa demo` runs the engine through every payment flow.

use clap::{Parser, Subcommand};

/// kassa payment transaction engine.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Subcommand)]
enum CliCommand {
    /// Runs real payments through the engine (accounts, transfers, holds, POS with a secure
    /// code, a virtual bill, a group split, coupons) and prints every outcome and balance.
    Demo,
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        CliCommand::Demo => kassa_adapters::demo::run(&mut std::io::stdout()).expect("writing to stdout"),
    }
}
