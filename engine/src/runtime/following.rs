//! Partitions another engine owns, followed here (`EngineConfig::followed_partitions`): the
//! first step to partitions spread over several nodes (docs/cluster.md, step 4).
//!
//! ```text
//! engine A (owns p0, follows p1)                 engine B (owns p1, follows p0)
//!   executor p0: decides, logs, replicates  --records of p0-->  executor p0: follow(record),
//!   executor p1: follow(record)             <--records of p1--    as recovery applies a
//!   a message p1 -> p0 found by applying                          record; a message it sends
//!   p1's record goes to p0's executor                             to p1 goes to p1's executor
//! ```
//!
//! A followed partition decides nothing: its executor applies the records its owner logged,
//! in order, through the same `commit` (each record carries the messages it applied, so the
//! state is the owner's), writes them to the local log and passes on what they send to the
//! partitions this engine owns. Messages to a followed partition are dropped here: its owner
//! receives them from the records of the partition that sent them. A message is applied once
//! where it arrives (the transit's `(source, number)` answers), and one still unanswered is
//! sent again whenever the engine opens, so a message lost with a stopped engine arrives later.
//!
//! Positions: a partition's state counts the records it applied (`StateMachine::position`), the
//! same count on every engine, and each record names its own (`WalRecord::position`), so a
//! record handed again after a restart is skipped.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::{Engine, PartitionId, Request, SubmitError};
use crate::wal::WalRecord;

/// Longest a takeover waits for every executor to stop behind its batches.
const TAKEOVER_WAIT_MAX: Duration = Duration::from_secs(30);

/// What a takeover asks of every executor: stop behind the batches handed over so far, say
/// when they are durable, and wait for the order (`executor/takeover.rs`).
pub(crate) struct Pause {
    /// Told `(partition, references applied)` once the executor's batches are durable and
    /// their messages sent.
    pub(super) arrived: Sender<(PartitionId, u64)>,
    /// The order.
    pub(super) resume: Receiver<Resume>,
}

/// A takeover's order to a paused executor.
pub(crate) enum Resume {
    /// For the partition taken over: drop the messages waiting (sent while it followed), say so
    /// on `drained`, and decide from now on.
    TakeOver { drained: Sender<()> },
    /// For every other partition: send partition `to` what is open here for it (the home
    /// partition also the references after `references_after`), then go on.
    Resend { to: PartitionId, references_after: u64 },
}

/// Why [`Engine::follow`] did not take a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FollowError {
    /// The record's partition is not one this engine follows (it owns it, or it is beyond the
    /// engine's partitions).
    #[error("partition {partition} is not followed by this engine")]
    NotFollowed {
        /// The record's partition.
        partition: PartitionId,
    },
    /// Records between the partition's position and this one were never handed over.
    #[error("record {position} of partition {partition} follows position {expected_after}: records are missing")]
    Gap {
        /// The record's partition.
        partition: PartitionId,
        /// The record's position in its partition's log.
        position: u64,
        /// The last position handed over.
        expected_after: u64,
    },
    /// The engine stopped (or its storage failed).
    #[error("engine stopped: {0}")]
    Stopped(SubmitError),
}

impl Engine {
    /// Hands over a record of a partition this engine follows, as the partition's owner logged
    /// it. It is applied after every record handed over before it, written to the local log
    /// (numbered in this engine's order) and what it sends to the partitions this engine owns
    /// goes to them. `Ok(false)`: a record at or below the partition's position
    /// ([`WalRecord::position`]), already applied, skipped (records handed again after a
    /// restart). Blocks while the partition's mailbox is full.
    pub fn follow(&self, record: WalRecord) -> Result<bool, FollowError> {
        let (partition, position) = (record.partition, record.position);
        let Some(last) = self.follow_positions.get(usize::from(partition)).filter(|_| self.follows(partition)) else {
            return Err(FollowError::NotFollowed { partition });
        };
        // Held while the record is queued: records of one partition enter its mailbox in order.
        let mut last = last.lock();
        if !self.follows(partition) {
            return Err(FollowError::NotFollowed { partition }); // Taken over while this waited.
        }
        if position <= *last {
            return Ok(false);
        }
        if position != *last + 1 {
            return Err(FollowError::Gap { partition, position, expected_after: *last });
        }
        if self.failed.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(FollowError::Stopped(SubmitError::StorageFailed));
        }
        let mailbox = &self.mailboxes[usize::from(partition)];
        mailbox.send(Request::Follow(Box::new(record))).map_err(|_| FollowError::Stopped(self.lost()))?;
        *last = position;
        Ok(true)
    }

    /// The position of the last record of followed partition `partition` handed over (applied,
    /// or queued to be); `None` for a partition this engine owns.
    pub fn followed_position(&self, partition: PartitionId) -> Option<u64> {
        let last = self.follow_positions.get(usize::from(partition)).filter(|_| self.follows(partition))?;
        Some(*last.lock())
    }

    /// Takes followed partition `partition` over in place, once every record of its owner was
    /// handed over (the owner stopped, or its appends are fenced): from then on this engine
    /// decides for it. Every executor stops behind its batches until they are durable; the
    /// partition drops the messages it was sent while it followed, logs a resend of its own
    /// open messages as its first record (as [`Engine::resend_open_messages`] does), and then
    /// every other partition sends it again what it has open for it, before anything else.
    pub fn take_over(&self, partition: PartitionId) -> Result<(), FollowError> {
        let Some(last) = self.follow_positions.get(usize::from(partition)).filter(|_| self.follows(partition)) else {
            return Err(FollowError::NotFollowed { partition });
        };
        let _one_at_a_time = self.takeover_gate.lock();
        let _no_more_records = last.lock();
        if !self.follows(partition) {
            return Err(FollowError::NotFollowed { partition }); // Taken over while this waited.
        }
        let stopped = |_| FollowError::Stopped(self.lost());
        let (arrived, arrivals) = crossbeam_channel::unbounded();
        let mut orders = Vec::with_capacity(self.mailboxes.len());
        for mailbox in &self.mailboxes {
            let (order, resume) = crossbeam_channel::bounded(1);
            mailbox
                .send(Request::Pause(Pause { arrived: arrived.clone(), resume }))
                .map_err(|_| self.lost())
                .map_err(FollowError::Stopped)?;
            orders.push(order);
        }
        let mut references_applied = 0;
        for _ in 0..self.mailboxes.len() {
            let (from, applied) = arrivals.recv_timeout(TAKEOVER_WAIT_MAX).map_err(stopped)?;
            if from == partition {
                references_applied = applied;
            }
        }
        let (drained, was_drained) = crossbeam_channel::bounded(1);
        let _ = orders[usize::from(partition)].send(Resume::TakeOver { drained });
        was_drained.recv_timeout(TAKEOVER_WAIT_MAX).map_err(stopped)?;
        self.followed[usize::from(partition)].store(false, Ordering::Release);
        let others = (0u16..).zip(&orders).filter(|(source, _)| *source != partition);
        for (_, order) in others {
            let _ = order.send(Resume::Resend { to: partition, references_after: references_applied });
        }
        Ok(())
    }

    /// Logs, as `partition`'s next record, a resend of every message it has open
    /// ([`crate::partition::TransitMessage::ResendOpen`]). For an engine that took the
    /// partition over (it followed the partition, and opens now as its owner): opening sends
    /// again, here, what each partition has open, but the partitions owned elsewhere hear this
    /// partition only through its records. Call it before the partition's first command.
    pub fn resend_open_messages(&self, partition: PartitionId) -> Result<(), SubmitError> {
        if partition >= self.placement.count() {
            return Err(SubmitError::InvalidBatch);
        }
        self.check_owned(partition)?;
        self.send(partition, Request::ResendOpen)
    }

    /// Whether another engine owns `partition` and this one follows it.
    pub(super) fn follows(&self, partition: PartitionId) -> bool {
        self.followed.get(usize::from(partition)).is_some_and(|followed| followed.load(Ordering::Acquire))
    }

    /// Refuses a request for a partition this engine follows.
    pub(super) fn check_owned(&self, partition: PartitionId) -> Result<(), SubmitError> {
        if self.follows(partition) { Err(SubmitError::NotOwner { partition }) } else { Ok(()) }
    }
}
