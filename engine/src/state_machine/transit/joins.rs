//! Outcomes that wait for several credits: a split's cancellation, expiry or completion waits
//! for the shares it gave back or the member accounts it released (`splits.rs`), an
//! independent transfer batch for its legs whose payees live elsewhere (each leg's outcome
//! filled in as its credit settles) and for those whose payers do (`batch_legs.rs`), and a linked batch for its reserved payees' credits or
//! releases (`linked.rs`).

use serde::{Deserialize, Serialize};

use crate::command::{Outcome, Reply};
use crate::state_machine::{CommitOutput, StateMachine};

/// An outcome that waits for several credits (a split's refunds or releases, a batch's legs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Join {
    left: usize,
    outcome: Outcome,
}

impl StateMachine {
    /// An outcome that waits for `credits` to be answered; returns the number its callers wait on.
    pub(in crate::state_machine) fn join_credits(&mut self, credits: Vec<u64>, outcome: Outcome) -> u64 {
        let transit = &mut self.state.transit;
        let number = transit.next_number();
        for credit in &credits {
            transit.joined.insert(*credit, number);
        }
        transit.joins.insert(number, Join { left: credits.len(), outcome });
        number
    }

    /// An independent transfer batch whose legs `crossing` (index, credit number) wait for their
    /// credits, and whose legs `elsewhere` (index, transfer) are applied on their payers'
    /// partitions one after another (`batch_legs.rs`): its outcome, `outcomes` with those legs'
    /// filled in as they settle; returns the number its callers wait on.
    pub(in crate::state_machine) fn join_legs(
        &mut self,
        outcomes: Vec<Outcome>,
        crossing: Vec<(usize, u64)>,
        elsewhere: Vec<(usize, crate::command::Transfer)>,
    ) -> u64 {
        let join = self.join_batch(Outcome::Applied(Reply::TransferBatch(outcomes)), crossing);
        if !elsewhere.is_empty() {
            self.state.transit.joins.get_mut(&join).expect("made above").left += elsewhere.len();
            self.state.transit.legs_elsewhere.insert(join, elsewhere.into());
            self.send_next_leg(join);
        }
        join
    }

    /// A transfer batch's `outcome` that waits for the credits of its legs `crossing` (index,
    /// credit number; an applied batch's legs' outcomes are filled in as they settle); returns
    /// the number its callers wait on.
    pub(in crate::state_machine) fn join_batch(&mut self, outcome: Outcome, crossing: Vec<(usize, u64)>) -> u64 {
        let transit = &mut self.state.transit;
        let number = transit.next_number();
        for (index, credit) in &crossing {
            transit.batch_legs.entry(*credit).or_default().push((number, *index));
        }
        transit.joins.insert(number, Join { left: crossing.len(), outcome });
        number
    }

    /// Credit `number` of a transfer settled with `leg`: the batches whose leg it is take it,
    /// each final once all its crossing legs are.
    pub(in crate::state_machine) fn leg_settled(&mut self, number: u64, leg: &Outcome, output: &mut CommitOutput) {
        let Some(legs) = self.state.transit.batch_legs.remove(&number) else { return };
        for (join, index) in legs {
            let waiting = self.state.transit.joins.get_mut(&join).expect("a batch leg's join waits");
            if let Outcome::Applied(Reply::TransferBatch(outcomes)) = &mut waiting.outcome {
                outcomes[index] = leg.clone();
            }
            waiting.left -= 1;
            if waiting.left == 0 {
                let Join { outcome, .. } = self.state.transit.joins.remove(&join).expect("looked at above");
                self.complete(join, outcome, output);
            }
        }
    }

    /// Credit `number` of a join was answered: the join's outcome is final once all are.
    pub(super) fn joined_settled(&mut self, number: u64, output: &mut CommitOutput) {
        let transit = &mut self.state.transit;
        let Some(join) = transit.joined.remove(&number) else { return };
        let waiting = transit.joins.get_mut(&join).expect("a joined credit's join waits");
        waiting.left -= 1;
        if waiting.left == 0 {
            let Join { outcome, .. } = transit.joins.remove(&join).expect("looked at above");
            self.complete(join, outcome, output);
        }
    }
}
