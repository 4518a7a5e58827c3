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
    Serve(Box<ServeArgs>),
    /// Runs real payments through the engine (accounts, transfers, holds, POS with a secure
    /// code, a virtual bill, a group split, coupons) and prints every outcome and balance.
    Demo,
    /// Checks a data directory offline and read-only (the server must be stopped): RocksDB's log
    /// and every table file block, the snapshot, every WAL record (checksum, sequence), replay,
    /// and the engine's invariants (money conserved, overdraft limits, holds). A torn,
    /// never-acknowledged write at the end of the log is reported, not an error (a start drops
    /// it). Exit 0 when sound; otherwise 1, with the damage named.
    Verify {
        /// The data directory to check.
        #[arg(long, default_value = "./kassa-data")]
        data_dir: std::path::PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    let log_format = match &cli.command {
        CliCommand::Serve(args) => args.log_format,
        CliCommand::Demo | CliCommand::Verify { .. } => serve::LogFormat::Text,
    };
    let logs = serve::init_logging(log_format);
    let failure = match cli.command {
        CliCommand::Serve(args) => {
            args.resolve().and_then(serve::run).err().map(|error| format!("kassa serve: {error}"))
        }
        CliCommand::Demo => {
            kassa_adapters::demo::run(&mut std::io::stdout()).expect("writing to stdout");
            None
        }
        CliCommand::Verify { data_dir } => {
            verify(&data_dir).err().map(|error| format!("kassa verify: {}: {error}", data_dir.display()))
        }
    };
    // Every queued log line out before the last word and the exit (which runs no destructors).
    drop(logs);
    if let Some(failure) = failure {
        eprintln!("{failure}");
        std::process::exit(1);
    }
}

/// `kassa verify`: the engine's offline check (read-only), printed.
fn verify(data_dir: &std::path::Path) -> Result<(), String> {
    let report = kassa_engine::wal::verify::verify_data_dir(data_dir).map_err(|error| error.to_string())?;
    let totals: Vec<String> = report
        .totals
        .iter()
        .map(|(currency, totals)| format!("{currency}: deposited {} withdrawn {}", totals.deposited, totals.withdrawn))
        .collect();
    println!(
        "snapshot at record {}, {} records / {} commands replayed (last record {}), {} accounts; {}",
        report.snapshot_seq,
        report.records_replayed,
        report.commands_replayed,
        report.last_seq,
        report.accounts,
        totals.join("; ")
    );
    println!(
        "{} RocksDB log files, {} table files; read {} WAL records, {} history keys, {} event records, {} transfer index keys, {} metadata keys",
        report.log_files,
        report.table_files,
        report.keys.wal,
        report.keys.history,
        report.keys.events,
        report.keys.transfers,
        report.keys.meta
    );
    if let Some(torn) = &report.torn_tail {
        println!(
            "note: {} ends in a torn write ({} bytes at byte {}): never acknowledged, the next start drops it",
            torn.file.display(),
            torn.bytes,
            torn.offset
        );
    }
    println!("kassa verify: OK (checksums, sequence, replay, conservation, overdraft limits, holds)");
    Ok(())
}
