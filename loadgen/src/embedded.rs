//! The embedded target: an `Engine` in this process on its own data directory (emptied first).
//! Setup goes in engine batches; the conservation check reads the state machine directly.

use std::path::Path;
use std::sync::Arc;

use kassa_engine::command::Submission;
use kassa_engine::constants::BATCH_COMMANDS_MAX;
use kassa_engine::{Command, Durability, Engine, EngineConfig, Id};

/// The embedded engine's id table unless `--ids-max` says otherwise: 16Mi ids (512 MiB, twice
/// with the replica), so that a run of half a minute at full speed does not fill it.
const LOADGEN_IDS_MAX: usize = 1 << 24;

/// Opens a fresh engine in `data_dir` (whatever was there is removed), with `partitions` and
/// ids answered as repeats for `retention_days` (0: the id table's window), resolved objects in
/// memory for `resolved_secs` (`None`: the engine's default).
pub fn open(
    data_dir: &Path,
    durability: Durability,
    ids_max: Option<usize>,
    (partitions, retention_days, resolved_secs): (u16, u64, Option<u64>),
) -> Result<Arc<Engine>, String> {
    match std::fs::remove_dir_all(data_dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(format!("cannot empty {}: {error}", data_dir.display())),
    }
    let mut config = EngineConfig::new(data_dir);
    config.durability = durability;
    config.ids_max = ids_max.unwrap_or(LOADGEN_IDS_MAX);
    config.partitions = partitions;
    config.idempotency_retention_ms = retention_days.saturating_mul(24 * 3_600_000);
    if let Some(secs) = resolved_secs {
        config.resolved_in_memory_ms = secs.saturating_mul(1_000);
    }
    Engine::open(config).map(Arc::new).map_err(|error| format!("opening the engine in {}: {error}", data_dir.display()))
}

/// Submits the setup phases in engine batches; every command must apply.
pub async fn setup(engine: &Engine, phases: &[Vec<Command>]) -> Result<(), String> {
    for phase in phases {
        for chunk in phase.chunks(BATCH_COMMANDS_MAX) {
            let outcomes = engine
                .submit_batch(Submission::admin_all(chunk.to_vec()))
                .await
                .map_err(|error| format!("setup: {error}"))?;
            if let Some((command, outcome)) = chunk.iter().zip(&outcomes).find(|(_, outcome)| !outcome.is_applied()) {
                return Err(format!("setup: {} refused: {outcome:?}", command.kind()));
            }
        }
    }
    Ok(())
}

/// The sum of the posted balances of `accounts` and of the escrow of `splits`, read from the
/// state machine in one read (after every acknowledged command). Missing accounts count 0.
pub async fn balances(engine: &Engine, accounts: Vec<Id>, splits: Vec<Id>) -> Result<(i128, i128), String> {
    let (accounts, splits) = (std::sync::Arc::new(accounts), std::sync::Arc::new(splits));
    let (mut balances, mut escrow) = (0i128, 0i128);
    // Each account lives on one partition; money between partitions sits in their transit.
    for partition in 0..engine.placement().count() {
        let (accounts, splits) = (accounts.clone(), splits.clone());
        let (partition_balances, partition_escrow) = engine
            .read_partition(partition, move |machine| {
                let posted =
                    accounts.iter().filter_map(|id| machine.account(id)).map(|account| i128::from(account.posted));
                let in_transit =
                    machine.transit().in_flight().into_values().map(|amount| i128::try_from(amount).expect("fits"));
                let escrow = splits.iter().filter_map(|id| machine.split(id)).map(|split| i128::from(split.escrow));
                (posted.sum::<i128>() + in_transit.sum::<i128>(), escrow.sum::<i128>())
            })
            .await
            .map_err(|error| format!("reading balances: {error}"))?;
        balances += partition_balances;
        escrow += partition_escrow;
    }
    Ok((balances, escrow))
}
