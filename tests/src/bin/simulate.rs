//! `kassa-simulate --seed S --commands N`: one model-based simulation run (see
//! `kassa_tests::simulation`). Prints the commands run, outcomes by code, divergences and the
//! elapsed time; exits with status 1 on a divergence.

use std::path::PathBuf;

use clap::Parser;
use kassa_engine::Durability;
use kassa_tests::simulation::{self, SimConfig};

/// Runs the reference model side by side with the real engine on a seeded command stream.
#[derive(Debug, Parser)]
#[command(name = "kassa-simulate")]
struct Args {
    /// Seed of the command stream, the restarts, the clock and the server key.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Commands to run.
    #[arg(long, default_value_t = 1_000_000)]
    commands: u64,
    /// Engine restarts (shutdown + reopen) during the run.
    #[arg(long, default_value_t = 5)]
    restarts: u32,
    /// Data directory (default: a fresh directory under the system temp dir, removed after).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Do not fsync batches (Durability::UnsafeNoSync): faster, crash durability not exercised.
    #[arg(long)]
    no_sync: bool,
    /// Print a progress line every this many commands (0: never).
    #[arg(long, default_value_t = 100_000)]
    progress: u64,
    /// Partitions of the engine (transfers between them run through transit).
    #[arg(long, default_value_t = 1)]
    partitions: u16,
}

fn main() {
    let args = Args::parse();
    let (data_dir, temporary) = match args.data_dir {
        Some(dir) => (dir, false),
        None => {
            let dir = std::env::temp_dir().join(format!("kassa-simulate-{}-{}", args.seed, std::process::id()));
            (dir, true)
        }
    };
    if data_dir.exists() && std::fs::read_dir(&data_dir).is_ok_and(|mut entries| entries.next().is_some()) {
        eprintln!("kassa-simulate: {} is not empty", data_dir.display());
        std::process::exit(2);
    }
    let mut config = SimConfig::new(args.seed, args.commands, &data_dir);
    config.restarts = args.restarts;
    config.progress_every_commands = args.progress;
    config.partitions = args.partitions;
    if args.no_sync {
        config.durability = Durability::UnsafeNoSync;
    }
    println!(
        "kassa-simulate: seed {} commands {} restarts {} partitions {} durability {:?} data dir {}",
        args.seed,
        args.commands,
        args.restarts,
        args.partitions,
        config.durability,
        data_dir.display()
    );
    let result = simulation::run(config);
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    match result {
        Ok(report) => {
            print!("{report}");
            if report.divergence.is_some() {
                std::process::exit(1);
            }
        }
        Err(error) => {
            eprintln!("kassa-simulate: {error}");
            std::process::exit(2);
        }
    }
}
