//! Answers that wait on more than one batch: a batch of commands spread over partitions, or a
//! transfer whose credit is on its way to another partition.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::{OutcomeSink, View};
use crate::command::{Outcome, Reply};

/// The outcomes of one submitted batch, filled slot by slot (each once its batch is durable,
/// or once its transfer is final); sent to the caller when the last slot is filled.
pub(crate) struct Gather {
    slots: Mutex<Slots>,
}

struct Slots {
    outcomes: Vec<Option<Outcome>>,
    /// How many partitions still have to answer each slot (a `Tick` goes to every one).
    shares: Vec<u16>,
    missing: usize,
    reply: Option<GatherReply>,
}

/// Who hears a gathered batch.
pub(crate) enum GatherReply {
    /// A waiting `submit_batch`.
    Channel(oneshot::Sender<Vec<Outcome>>),
    /// A `submit_with` continuation of one command (a tick every partition applies).
    One(super::OnOutcome),
}

impl Gather {
    /// A gather of `count` outcomes for `reply`, one partition answering each.
    pub(super) fn new(count: usize, reply: oneshot::Sender<Vec<Outcome>>) -> Arc<Gather> {
        Gather::shared(vec![1; count], GatherReply::Channel(reply))
    }

    /// A gather of one outcome per entry of `shares`, answered by that many partitions (their
    /// ticks merged: [`merge_ticks`]).
    pub(super) fn shared(shares: Vec<u16>, reply: GatherReply) -> Arc<Gather> {
        let count = shares.len();
        let slots = Slots { outcomes: vec![None; count], shares, missing: count, reply: Some(reply) };
        Arc::new(Gather { slots: Mutex::new(slots) })
    }

    /// Fills slot `index` (one share of it); the last one sends every outcome, in order.
    pub(super) fn fill(&self, index: usize, outcome: Outcome) {
        let mut slots = self.slots.lock();
        let merged = match slots.outcomes[index].take() {
            None => outcome,
            Some(earlier) => merge_ticks(earlier, outcome),
        };
        slots.outcomes[index] = Some(merged);
        if slots.shares[index] > 0 {
            slots.shares[index] -= 1;
            if slots.shares[index] == 0 {
                slots.missing -= 1;
            }
        }
        if slots.missing == 0
            && let Some(reply) = slots.reply.take()
        {
            let mut outcomes: Vec<Outcome> =
                std::mem::take(&mut slots.outcomes).into_iter().map(|outcome| outcome.expect("filled")).collect();
            match reply {
                // A caller that gave up waiting is not an error.
                GatherReply::Channel(reply) => drop(reply.send(outcomes)),
                GatherReply::One(callback) => callback.call(Ok(outcomes.pop().expect("one outcome"))),
            }
        }
    }
}

/// One `Tick` as every partition answered it: what expired anywhere, summed (a refusal is the
/// same on every partition, so the first answer stands).
pub(super) fn merge_ticks(earlier: Outcome, later: Outcome) -> Outcome {
    match (earlier, later) {
        (Outcome::Applied(Reply::Ticked { expired: first }), Outcome::Applied(Reply::Ticked { expired: second })) => {
            Outcome::Applied(Reply::Ticked { expired: first.saturating_add(second) })
        }
        (earlier, _) => earlier,
    }
}

/// Who answers a [`Request::Batch`](super::Request::Batch).
pub(crate) enum BatchReply {
    /// The whole batch, to one caller.
    Whole(oneshot::Sender<Vec<Outcome>>),
    /// Part of a batch spread over partitions: these slots of a gather.
    Part(Arc<Gather>, Vec<usize>),
}

/// A waiter whose outcome is pending on a transfer between partitions.
pub(super) enum Parked {
    Sink(OutcomeSink),
    View(View),
    Slot(Arc<Gather>, usize),
}
