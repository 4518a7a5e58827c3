//! Answers that wait on more than one batch: a batch of commands spread over partitions, or a
//! transfer whose credit is on its way to another partition.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::{OutcomeSink, View};
use crate::command::Outcome;

/// The outcomes of one submitted batch, filled slot by slot (each once its batch is durable,
/// or once its transfer is final); sent to the caller when the last slot is filled.
pub(crate) struct Gather {
    slots: Mutex<Slots>,
}

struct Slots {
    outcomes: Vec<Option<Outcome>>,
    missing: usize,
    reply: Option<oneshot::Sender<Vec<Outcome>>>,
}

impl Gather {
    /// A gather of `count` outcomes for `reply`.
    pub(super) fn new(count: usize, reply: oneshot::Sender<Vec<Outcome>>) -> Arc<Gather> {
        let slots = Slots { outcomes: vec![None; count], missing: count, reply: Some(reply) };
        Arc::new(Gather { slots: Mutex::new(slots) })
    }

    /// Fills slot `index`; the last one sends every outcome, in order.
    pub(super) fn fill(&self, index: usize, outcome: Outcome) {
        let mut slots = self.slots.lock();
        if slots.outcomes[index].replace(outcome).is_none() {
            slots.missing -= 1;
        }
        if slots.missing == 0
            && let Some(reply) = slots.reply.take()
        {
            let outcomes = std::mem::take(&mut slots.outcomes).into_iter().map(|outcome| outcome.expect("filled"));
            // A caller that gave up waiting is not an error.
            let _ = reply.send(outcomes.collect());
        }
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
