//! How an engine runs: its data directory, durability, partitions and their roles, limits,
//! clock and log replica.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Durability, Replica, executor};
use crate::constants::BATCH_COMMANDS_MAX;
use crate::partition::PartitionId;

/// How to run an engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where RocksDB keeps the log, history and snapshots.
    pub data_dir: PathBuf,
    /// `Sync` (default) or the test-only `UnsafeNoSync`.
    pub durability: Durability,
    /// Most transfer, deposit and withdrawal ids remembered at once (32 bytes each; default
    /// [`IDS_MAX_DEFAULT`](crate::state_machine::IDS_MAX_DEFAULT)). Fixed when the data directory
    /// is created; reopening with another value keeps the directory's.
    pub ids_max: usize,
    /// Partitions (each a state machine with its own executor), 1..=256. Fixed when the data
    /// directory is created; reopening with another value keeps the directory's.
    pub partitions: u16,
    /// Most commands committed as one batch (one WAL record), at most `BATCH_COMMANDS_MAX`.
    pub batch_max: usize,
    /// Most requests waiting in each partition's mailbox; beyond it submissions get `Busy`.
    pub mailbox_max: usize,
    /// A snapshot is written after this many commands since the last one.
    pub snapshot_every_commands: u64,
    /// Period of the expiry tick, in milliseconds (0: no ticker; submit `Command::Tick` yourself).
    pub tick_interval_ms: u64,
    /// Records between two hashes of each partition's state (0, the default: none), which an
    /// owner and its standbys write to `state-hashes` (`state_hashes.rs`) to be compared.
    pub state_hash_every: u64,
    /// The server key for secure codes; when `None`, one is generated at first open and stored.
    pub secret_key: Option<[u8; 32]>,
    /// Where the executor reads `now` for each batch: the wall clock (default) or a value the
    /// embedder sets (simulations and tests with simulated time).
    pub clock: Clock,
    /// How long a transfer, deposit or withdrawal id is answered as a repeat beyond the id
    /// table's window (one to two days): 0 (the default) or anything up to the window keeps the
    /// table's window only; longer turns on the executor's lookups in storage (`recall.rs`)
    /// behind an in-memory filter of the retention's ids (`id_filter.rs`: about 1.25 bytes per
    /// id, two generations sized from `ids_max`), which cost durable throughput (BENCHMARKS.md:
    /// about 7 % with 1,000 submitters and 10 % with batches of 1,000 on 2 vCPUs).
    pub idempotency_retention_ms: u64,
    /// How long a resolved POS settlement, authorization, hold, bill or split stays in memory
    /// before it moves to storage (default one minute): memory holds the active objects and one
    /// window's resolved ones; each one a command names again costs a read from storage. Fixed when the data directory is created; reopening with another value keeps the
    /// directory's (replay must move objects out where the first run did).
    pub resolved_in_memory_ms: u64,
    /// A second durable copy of the log that acknowledgements wait for (cluster mode; `None`:
    /// the local log alone, the default).
    pub replica: Option<Replica>,
    /// The partitions another engine owns and this one follows (empty, the default: it owns
    /// every partition). It decides nothing on them: it applies the records their owner logged,
    /// handed to [`Engine::follow`], and passes on what they send to the partitions it owns;
    /// commands and reads for them are refused [`SubmitError::NotOwner`]. The replica gets the
    /// records of owned partitions only.
    pub followed_partitions: Vec<PartitionId>,
}

/// The source of `now` that the executor reads once per batch.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// Wall-clock time (`SystemTime::now()`), in milliseconds since the Unix epoch.
    #[default]
    System,
    /// Simulated time: milliseconds since the Unix epoch, as last stored by the embedder. The
    /// state machine still never lets time run backwards.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// The current time in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => executor::clock_ms(),
            Clock::Manual(now_ms) => now_ms.load(Ordering::SeqCst),
        }
    }
}

impl EngineConfig {
    /// Defaults for a data directory: synced, batches of up to 8,190, 65,536 requests queued.
    pub fn new(data_dir: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            data_dir: data_dir.into(),
            durability: Durability::Sync,
            ids_max: crate::state_machine::IDS_MAX_DEFAULT,
            partitions: 1,
            batch_max: BATCH_COMMANDS_MAX,
            mailbox_max: 65_536,
            snapshot_every_commands: 2_000_000,
            tick_interval_ms: 1_000,
            state_hash_every: 0,
            secret_key: None,
            clock: Clock::System,
            idempotency_retention_ms: 0,
            resolved_in_memory_ms: crate::constants::RESOLVED_IN_MEMORY_MS_DEFAULT,
            replica: None,
            followed_partitions: Vec::new(),
        }
    }
}
