//! The reference stream: merchants, terminals and operators are registered on the home
//! partition and applied by every other partition, so that a command on any partition finds
//! them (`docs/placement.md`, step 2).
//!
//! ```text
//! home partition 0                              every other partition p
//!   register (checks, authority, events)
//!   keep it as reference n               --Reference n-->  apply n if p applied through n - 1
//!                                                          (a copy is ignored); no answer
//! ```
//!
//! A reference has no answer, so nothing at home waits for it; it must still not be lost. The
//! home partition keeps its references in order (they are few: thousands), every other
//! partition keeps the number it applied through, and when the engine opens it sends each
//! partition the references after that number ([`ReferenceStream::missed_by`]). A message leaves
//! once its batch is queued for the writer, which makes batches durable in the order they were
//! queued: a partition keeps a reference after a crash only if the home partition kept it too.

use serde::{Deserialize, Serialize};

use super::StateMachine;
use super::pos::{Merchant, Operator, Terminal};
use crate::partition::{HOME_PARTITION, Outgoing, Reference, Registration, TransitMessage};

/// One partition's side of the reference stream (empty with one partition).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceStream {
    /// On the home partition: every reference it sent, in number order (reference `n` at
    /// `n - 1`). Empty elsewhere.
    sent: Vec<Reference>,
    /// Elsewhere: the highest reference number applied. Unused on the home partition.
    applied_through: u64,
}

impl ReferenceStream {
    /// The references numbered after `applied_through`: what a partition that applied through
    /// that number has not seen (read on the home partition).
    pub fn missed_by(&self, applied_through: u64) -> &[Reference] {
        let applied = usize::try_from(applied_through).unwrap_or(usize::MAX);
        self.sent.get(applied..).unwrap_or_default()
    }

    /// The highest reference number this partition applied (the home partition: sent).
    pub fn applied_through(&self) -> u64 {
        match self.sent.len() {
            0 => self.applied_through,
            sent => u64::try_from(sent).expect("fits"),
        }
    }
}

/// What each of a directory's partitions (`machines`, the home partition first) has not
/// applied of the home partition's reference stream, in order: sent again when the engine
/// opens, before anything the home partition registers from then on.
pub fn missed_references(machines: &[StateMachine]) -> Vec<Outgoing> {
    let Some((home, others)) = machines.split_first() else { return Vec::new() };
    let missed = others.iter().flat_map(|machine| {
        let destination = machine.config.partition;
        let missed = home.state.reference.missed_by(machine.state.reference.applied_through());
        missed
            .iter()
            .map(move |reference| Outgoing { destination, message: TransitMessage::Reference(reference.clone()) })
    });
    missed.collect()
}

impl StateMachine {
    /// Sends what the home partition just registered (new, not a repeat) to every other
    /// partition, and keeps it to send again after a restart. Does nothing on one partition.
    pub(super) fn publish(&mut self, registration: Registration) {
        let partitions = self.config.placement.count();
        if partitions == 1 {
            return;
        }
        debug_assert_eq!(self.config.partition, HOME_PARTITION, "registrations apply on the home partition");
        let stream = &mut self.state.reference;
        let number = u64::try_from(stream.sent.len()).expect("fits") + 1;
        let reference = Reference { number, registration };
        for destination in (0..partitions).filter(|partition| *partition != HOME_PARTITION) {
            self.outgoing.push(Outgoing { destination, message: TransitMessage::Reference(reference.clone()) });
        }
        stream.sent.push(reference);
    }

    /// Applies reference `n` of the home partition if this partition applied through `n - 1`
    /// (a copy, resent after a restart, is ignored). It was checked there: it is recorded as
    /// it is, and makes no events (the home partition's report it).
    pub(super) fn apply_reference(&mut self, reference: &Reference) {
        let stream = &mut self.state.reference;
        if reference.number != stream.applied_through + 1 {
            debug_assert!(
                reference.number <= stream.applied_through,
                "reference {} skipped",
                stream.applied_through + 1
            );
            return;
        }
        stream.applied_through = reference.number;
        let state = &mut self.state;
        match &reference.registration {
            Registration::Merchant(register) => {
                state.merchants.insert(register.merchant.clone(), Merchant { account: register.account.clone() });
            }
            Registration::Terminal(register) => {
                let terminal = Terminal {
                    merchant: register.merchant.clone(),
                    mac_key: register.mac_key.clone(),
                    location: register.location,
                };
                state.terminals.insert(register.terminal.clone(), terminal);
                self.adopt_settlements(&register.terminal, &register.merchant);
            }
            Registration::Operator(register) => {
                let operator = Operator { merchant: register.merchant.clone() };
                state.operators.insert(register.operator.clone(), operator);
            }
        }
    }

    /// This partition's side of the reference stream.
    pub fn reference(&self) -> &ReferenceStream {
        &self.state.reference
    }

    /// A digest of the merchants, terminals and operators this partition knows: equal on every
    /// partition once the reference stream has arrived everywhere.
    pub fn reference_digest(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let state = &self.state;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let mut merchants: Vec<_> = state.merchants.iter().collect();
        merchants.sort_unstable_by_key(|(id, _)| *id);
        for (id, merchant) in merchants {
            (id, &merchant.account).hash(&mut hasher);
        }
        let mut terminals: Vec<_> = state.terminals.iter().collect();
        terminals.sort_unstable_by_key(|(id, _)| *id);
        for (id, terminal) in terminals {
            let location = terminal.location.map(|point| (point.latitude_e6, point.longitude_e6));
            (id, &terminal.merchant, &terminal.mac_key, location).hash(&mut hasher);
        }
        let mut operators: Vec<_> = state.operators.iter().collect();
        operators.sort_unstable_by_key(|(id, _)| *id);
        for (id, operator) in operators {
            (id, &operator.merchant).hash(&mut hasher);
        }
        hasher.finish()
    }
}

#[cfg(test)]
mod tests;
