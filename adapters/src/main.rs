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
    /// Checks a data directory offline (the server must be stopped): snapshot and WAL checksums,
    /// replay, and the engine's invariants (money conserved, overdraft limits, holds). Like a
    /// start, it drops a torn, never-acknowledged last WAL record. Exit 0 when sound.
    Verify {
        /// The data directory to check.
        #[arg(long, default_value = "./kassa-data")]
        data_dir: std::path::PathBuf,
    },
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
        CliCommand::Verify { data_dir } => {
            if let Err(error) = verify(&data_dir) {
                eprintln!("kassa verify: {}: {error}", data_dir.display());
                std::process::exit(1);
            }
        }
    }
}

/// `kassa verify`: open (which checks and replays), check invariants, report.
fn verify(data_dir: &std::path::Path) -> Result<(), String> {
    if !data_dir.join("CURRENT").exists() {
        return Err("not a kassa data directory (no RocksDB CURRENT file)".into());
    }
    let mut config = kassa_engine::EngineConfig::new(data_dir);
    config.tick_interval_ms = 0;
    let (engine, report) = kassa_engine::Engine::open_with_report(config).map_err(|error| error.to_string())?;
    let summary = engine
        .read_blocking(|machine| {
            // Panics (caught below) name the broken invariant.
            let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| machine.check_invariants()));
            let totals: Vec<String> = machine
                .totals()
                .iter()
                .map(|(currency, totals)| {
                    format!("{currency}: deposited {} withdrawn {}", totals.deposited, totals.withdrawn)
                })
                .collect();
            (checked.is_ok(), machine.account_count(), totals)
        })
        .map_err(|error| error.to_string())?;
    engine.shutdown();
    let (sound, accounts, totals) = summary;
    println!(
        "snapshot at record {}, {} records / {} commands replayed, {accounts} accounts; {}",
        report.snapshot_seq,
        report.records_replayed,
        report.commands_replayed,
        totals.join("; ")
    );
    if !sound {
        return Err("an invariant is broken (see the message above)".into());
    }
    println!("kassa verify: OK (checksums, replay, conservation, overdraft limits, holds)");
    Ok(())
}
