//! Metadata on what a command creates ([`crate::metadata`]): the machine checks that the
//! command may carry it and, once the command has created its object, emits
//! [`Event::Annotated`]. It keeps none of it.

use super::StateMachine;
use crate::command::{Command, Event, Outcome, Rejection, Submission};
use crate::metadata::MetadataKind;
use crate::types::Id;

/// What [`StateMachine::apply`] needs to annotate a submission's object after it applies.
pub(super) struct Pending {
    existed: bool,
    events_before: usize,
}

impl StateMachine {
    /// Before `submission` applies: refuses metadata on a command that creates nothing that
    /// carries it; otherwise notes whether its object exists already (a retry creates nothing).
    pub(super) fn before_annotating(
        &self,
        submission: &Submission,
        events: &[Event],
    ) -> Result<Option<Pending>, Rejection> {
        if submission.metadata.is_none() {
            return Ok(None);
        }
        let (kind, id) = MetadataKind::created_by(&submission.command).ok_or(Rejection::MetadataNotSupported)?;
        Ok(Some(Pending { existed: self.object_exists(kind, id), events_before: events.len() }))
    }

    /// After `submission` applied with `outcome`: emits its metadata if it created its object.
    pub(super) fn annotate(
        &self,
        pending: Pending,
        submission: &Submission,
        outcome: &Outcome,
        events: &mut Vec<Event>,
    ) {
        let (Some(metadata), Some((kind, id))) = (&submission.metadata, MetadataKind::created_by(&submission.command))
        else {
            return;
        };
        // Whatever the command created, it annotates: a declined POS settlement is remembered
        // (and listed), so it carries its metadata too. A repeat creates nothing.
        let created = match kind {
            // A transfer applied anew posts its debit.
            MetadataKind::Transfer => outcome.is_applied() && events.len() > pending.events_before,
            _ => !pending.existed && self.object_exists(kind, id),
        };
        if !created {
            return;
        }
        let payer = match &submission.command {
            Command::Transfer(transfer) => Some(transfer.from.clone()),
            _ => None,
        };
        events.push(Event::Annotated { kind, id: id.clone(), payer, metadata: metadata.as_ref().clone() });
    }

    /// Whether the object exists in memory (a transfer is never looked for: see `annotate`).
    fn object_exists(&self, kind: MetadataKind, id: &Id) -> bool {
        match kind {
            MetadataKind::Transfer => false,
            MetadataKind::Hold => self.state.holds.contains_key(id),
            // A sale whose money is in flight will be recorded, approved or refused.
            MetadataKind::Settlement => {
                self.state.settlements.get(id).is_some()
                    || matches!(self.pos_in_flight(id), super::transit::InFlight::Sale(..))
            }
            MetadataKind::Bill => self.state.bills.contains_key(id),
            MetadataKind::Split => self.state.splits.contains_key(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{Harness, authorize, code_of, id, open_bill, request_split, settle, transfer};
    use crate::command::*;
    use crate::metadata::{Metadata, MetadataKind};
    use crate::state_machine::CommitOutput;
    use crate::types::{Currency, Id};

    fn metadata(order: &str) -> Metadata {
        Metadata::new([("order_id".to_owned(), order.to_owned())]).unwrap()
    }

    /// Commits `command` as the admin with `order` as metadata: its outcome and its events.
    fn run(h: &mut Harness, command: Command, order: &str) -> (Outcome, Vec<Event>) {
        h.machine.begin_batch(h.now);
        let before = h.machine.state().after_unchanged_records(1);
        let mut output = CommitOutput::default();
        h.machine.commit(h.now, &[Submission::admin(command).with_metadata(metadata(order))], &mut output);
        h.machine.check_invariants();
        let outcome = output.outcomes.pop().unwrap();
        if outcome.rejection() == Some(Rejection::MetadataNotSupported) {
            assert!(*h.machine.state() == before && output.events.is_empty(), "a refused command changed something");
        }
        (outcome, output.events)
    }

    fn annotations(events: &[Event]) -> Vec<(MetadataKind, Id, Option<Id>, Metadata)> {
        let annotated = events.iter().filter_map(|event| match event {
            Event::Annotated { kind, id, payer, metadata } => {
                Some((*kind, id.clone(), payer.clone(), metadata.clone()))
            }
            _ => None,
        });
        annotated.collect()
    }

    #[test]
    fn what_a_command_creates_carries_its_metadata_once() {
        let mut h = Harness::new();
        h.open("a", 0);
        h.open("b", 0);
        h.deposit("a", 10_000);
        let (outcome, events) = run(&mut h, Command::Transfer(transfer("t1", "a", "b", 100)), "A-1");
        assert!(outcome.is_applied());
        assert_eq!(annotations(&events), [(MetadataKind::Transfer, id("t1"), Some(id("a")), metadata("A-1"))]);
        // A retry answers as the first did and attaches nothing: the first metadata stays.
        let (retry, events) = run(&mut h, Command::Transfer(transfer("t1", "a", "b", 100)), "A-2");
        assert_eq!(retry, outcome);
        assert!(events.is_empty());
        // A refused transfer creates nothing.
        let (refused, events) = run(&mut h, Command::Transfer(transfer("t2", "a", "b", 1_000_000)), "A-3");
        assert_eq!(refused.rejection(), Some(Rejection::InsufficientFunds));
        assert!(events.is_empty());

        let expires_at_ms = h.now + 60_000;
        let hold =
            PlaceHold { id: id("h1"), from: id("a"), to: id("b"), amount: 10, currency: Currency::EUR, expires_at_ms };
        let (_, events) = run(&mut h, Command::PlaceHold(hold), "H-1");
        assert_eq!(annotations(&events), [(MetadataKind::Hold, id("h1"), None, metadata("H-1"))]);
    }

    #[test]
    fn settlements_bills_and_splits_carry_metadata_even_a_declined_settlement() {
        let mut h = Harness::new();
        h.merchant();
        h.open("a", 0);
        h.deposit("a", 1_000);
        let code = code_of(h.ok(authorize("au1", 5_000, h.now + 3_600_000, 7)));
        let (declined, events) = run(&mut h, settle("s1", &code, 2_000), "S-1");
        assert_eq!(declined.rejection(), Some(Rejection::InsufficientFunds));
        assert_eq!(annotations(&events), [(MetadataKind::Settlement, id("s1"), None, metadata("S-1"))]);
        let (_, events) = run(&mut h, settle("s1", &code, 2_000), "S-2");
        assert!(annotations(&events).is_empty(), "a retried settlement keeps its first metadata");

        open_bill(&mut h, "b0");
        let (opens_at_ms, closes_at_ms) = (h.now, h.now + 600_000);
        let bill = OpenBill {
            bill: id("b1"),
            user: id("u1"),
            account: id("a"),
            merchant: id("m1"),
            opens_at_ms,
            closes_at_ms,
        };
        let (_, events) = run(&mut h, Command::OpenBill(bill), "B-1");
        assert_eq!(annotations(&events), [(MetadataKind::Bill, id("b1"), None, metadata("B-1"))]);

        for account in ["acc-req", "acc-x", "acc-y", "acc-z"] {
            h.open(account, 0);
        }
        assert!(request_split(&mut h, "sp0", 300, SplitShares::Equal).is_applied());
        let request = Command::RequestSplit(split_request(&h, "sp1"));
        let (_, events) = run(&mut h, request, "P-1");
        assert_eq!(annotations(&events), [(MetadataKind::Split, id("sp1"), None, metadata("P-1"))]);
    }

    fn split_request(h: &Harness, split: &str) -> RequestSplit {
        RequestSplit {
            split: id(split),
            requester: id("req"),
            requester_account: id("acc-req"),
            total: 300,
            currency: Currency::EUR,
            members: super::super::tests::members(&["x", "y", "z"]),
            shares: SplitShares::Equal,
            expires_at_ms: h.now + 86_400_000,
        }
    }

    #[test]
    fn metadata_on_a_command_that_creates_nothing_it_fits_is_refused_and_changes_nothing() {
        let mut h = Harness::new();
        h.open("a", 0);
        let deposit = Command::Deposit(Movement { id: id("d1"), account: id("a"), amount: 5 });
        let (outcome, events) = run(&mut h, deposit.clone(), "D-1");
        assert_eq!(outcome.rejection(), Some(Rejection::MetadataNotSupported));
        assert!(events.is_empty());
        // Without metadata the same command applies: the refusal remembered nothing.
        assert!(h.run(deposit).is_applied());
        let (outcome, _) = run(&mut h, Command::CloseAccount { account: id("a") }, "C-1");
        assert_eq!(outcome.rejection(), Some(Rejection::MetadataNotSupported));
    }
}
