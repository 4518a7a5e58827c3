//! A restart gives back the state it stopped with: each partition's whole state (accounts,
//! objects, the id table, the transit's messages and waiting commands, the reference stream's
//! numbers), read from the live engine once it is quiet, equals the state the reopened engine
//! rebuilt from its snapshot and log. Outcomes alone would show a difference only once a later
//! command depends on it; this compares everything at the moment of the restart, the
//! in-process form of "a standby's state equals the owner's at the same position".

use std::time::Duration;

use kassa_engine::Engine;
use kassa_engine::state_machine::State;

use super::{SimError, fail};

/// Reads of every partition's state before the engine counts as quiet.
const QUIET_READS_MAX: usize = 200;

/// Every partition's state, read between its batches.
pub(super) fn states(engine: &Engine) -> Result<Vec<State>, SimError> {
    (0..engine.placement().count())
        .map(|partition| {
            engine
                .read_partition_blocking(partition, |machine| machine.state().clone())
                .map_err(|error| fail("reading a partition's state", error))
        })
        .collect()
}

/// Every partition's state once two reads in a row find the same (the messages between
/// partitions that follow an answer, such as a transit's drain, have all been applied). The
/// clock is the simulation's and stands still, so a quiet engine stays as it is.
pub(super) fn quiet_states(engine: &Engine) -> Result<Vec<State>, SimError> {
    let mut last = states(engine)?;
    for _ in 0..QUIET_READS_MAX {
        std::thread::sleep(Duration::from_millis(2));
        let now = states(engine)?;
        if now == last {
            return Ok(now);
        }
        last = now;
    }
    Err(fail("waiting for the engine to be quiet", format!("still changing after {QUIET_READS_MAX} reads")))
}

/// The first partition whose state differs, if one does.
pub(super) fn first_difference(before: &[State], after: &[State]) -> Option<usize> {
    if before.len() != after.len() {
        return Some(before.len().min(after.len()));
    }
    before.iter().zip(after).position(|(before, after)| before != after)
}
