//! Linked batches whose payers live on another partition, message by message: the payers'
//! funds reserved there first (nothing posted, not spendable, the account kept open), then
//! every leg paid from there once the batch applies, or every reservation released.

use super::{all_done, leg, linked, reserves};
use crate::command::{Command, Movement, Outcome, Rejection, Reply};
use crate::partition::{Paying, TransitMessage};
use crate::state_machine::StateMachine;
use crate::state_machine::tests::id;
use crate::state_machine::transit::tests::{account_on, commit, machines, messages, open, posted};
use crate::types::Id;

fn withdraw(name: &str, account: &Id, amount: u64) -> Command {
    Command::Withdraw(Movement { id: id(name), account: account.clone(), amount })
}

fn moves(messages: &[TransitMessage]) -> usize {
    messages
        .iter()
        .filter(|message| matches!(message, TransitMessage::Move(m) if matches!(m.paying, Paying::LinkedLeg { .. })))
        .count()
}

/// Delivers messages back and forth between the two partitions until none is left; returns
/// every command completed on `p0` meanwhile.
fn settle(p0: &mut StateMachine, p1: &mut StateMachine, mut to_p1: Vec<TransitMessage>) -> Vec<(u64, Outcome)> {
    let mut completed = Vec::new();
    while !to_p1.is_empty() {
        let answers = commit(p1, &to_p1, vec![]);
        let back = commit(p0, &messages(&answers), vec![]);
        completed.extend(back.completed.clone());
        to_p1 = messages(&back);
    }
    completed
}

#[test]
fn a_payer_elsewhere_has_its_funds_reserved_first_then_pays_once_the_batch_applies() {
    let [mut p0, mut p1] = machines();
    let (payer, near) = (account_on(&p0, 0, "payer"), account_on(&p0, 0, "near"));
    let far = account_on(&p0, 1, "far");
    open(&mut p0, &payer, 100);
    open(&mut p0, &near, 0);
    open(&mut p1, &far, 100);
    let batch = || linked(vec![leg("a", &far, &near, 30), leg("b", &payer, &near, 20)]);
    let sent = commit(&mut p0, &[], vec![batch()]);
    assert_eq!((sent.pending.len(), reserves(&sent)), (1, 1), "the batch waits for its payer's funds");
    assert_eq!((posted(&p0, &payer), posted(&p0, &near)), (100, 0), "nothing moves before");
    let reserved = commit(&mut p1, &messages(&sent), vec![withdraw("w1", &far, 71), close(&far)]);
    assert_eq!(
        reserved.outcomes,
        vec![Outcome::Rejected(Rejection::InsufficientFunds), Outcome::Rejected(Rejection::AccountNotEmpty)],
        "reserved funds are not spendable, and the payer stays open"
    );
    assert_eq!(posted(&p1, &far), 100, "a reservation posts nothing");
    let again = commit(&mut p1, &messages(&sent), vec![]);
    assert_eq!(messages(&again), messages(&reserved), "a copy is answered as the first was");
    let applied = commit(&mut p0, &messages(&reserved), vec![]);
    assert_eq!((posted(&p0, &payer), posted(&p0, &near)), (80, 20), "the leg here applies with the batch");
    assert!(applied.completed.is_empty(), "the batch answers once its leg elsewhere is paid");
    assert_eq!(moves(&messages(&applied)), 1);
    let closing = commit(&mut p0, &[], vec![close(&near)]);
    assert_eq!(closing.outcomes, vec![Outcome::Rejected(Rejection::AccountNotEmpty)]);
    let completed = settle(&mut p0, &mut p1, messages(&applied));
    assert!(completed.contains(&(sent.pending[0].1, all_done(2))), "{completed:?}");
    assert_eq!((posted(&p1, &far), posted(&p0, &near)), (70, 50));
    assert!(commit(&mut p1, &[], vec![withdraw("w2", &far, 70)]).outcomes[0].is_applied(), "nothing left reserved");
    for machine in [&p0, &p1] {
        assert_eq!(machine.transit().reservations(), (0, 0));
        assert!(machine.transit().in_flight().is_empty() && machine.transit().open_messages().is_empty());
    }
    // A repeat of the whole batch is answered as the first was and reserves nothing.
    let repeat = commit(&mut p0, &[], vec![batch()]);
    assert_eq!((repeat.outcomes[0].clone(), reserves(&repeat)), (all_done(2), 0));
}

#[test]
fn a_payer_refused_elsewhere_refuses_the_batch_in_leg_order_and_releases_every_reservation() {
    let [mut p0, mut p1] = machines();
    let (payer, near) = (account_on(&p0, 0, "payer"), account_on(&p0, 0, "near"));
    let (far, poor) = (account_on(&p0, 1, "far"), account_on(&p0, 1, "poor"));
    open(&mut p0, &payer, 100);
    open(&mut p0, &near, 0);
    open(&mut p1, &far, 100);
    open(&mut p1, &poor, 10);
    let missing = account_on(&p0, 0, "missing");
    // Leg 1's payer is short of funds; leg 2's payee is missing here: the payer's refusal,
    // known only once answered, comes first.
    let legs = vec![leg("a", &far, &near, 30), leg("b", &poor, &near, 20), leg("c", &payer, &missing, 5)];
    let sent = commit(&mut p0, &[], vec![linked(legs)]);
    assert_eq!(reserves(&sent), 2, "every payer the batch reaches is reserved at once");
    let completed = settle(&mut p0, &mut p1, messages(&sent));
    let rejected = Outcome::BatchRejected { leg: 1, rejection: Rejection::InsufficientFunds };
    assert!(completed.contains(&(sent.pending[0].1, rejected)), "{completed:?}");
    assert_eq!((posted(&p0, &payer), posted(&p0, &near), posted(&p1, &far), posted(&p1, &poor)), (100, 0, 100, 10));
    assert!(commit(&mut p1, &[], vec![withdraw("w", &far, 100)]).outcomes[0].is_applied(), "released");
    assert_eq!(p1.transit().reservations(), (0, 0));
    assert!(p0.transit().open_messages().is_empty() && p1.transit().open_messages().is_empty());
    // The ids were not remembered: the same ids apply once the payer can pay.
    let again = commit(&mut p0, &[], vec![linked(vec![leg("a", &payer, &near, 30)])]);
    assert_eq!(again.outcomes, vec![all_done(1)]);
}

#[test]
fn a_payer_and_payee_both_elsewhere_are_paid_on_their_own_partition() {
    let [mut p0, mut p1] = machines();
    let payer = account_on(&p0, 0, "payer");
    let (far, other) = (account_on(&p0, 1, "far"), account_on(&p0, 1, "other"));
    open(&mut p0, &payer, 100);
    open(&mut p1, &far, 50);
    open(&mut p1, &other, 0);
    // Leg a pays `far` from here (reserved there); leg b's payer is `far` itself, which pays
    // from what it had before the batch: the 30 of leg a arrive after it.
    let sent = commit(&mut p0, &[], vec![linked(vec![leg("a", &payer, &far, 30), leg("b", &far, &other, 50)])]);
    assert_eq!(reserves(&sent), 3, "the payee of a, the payer and the payee of b");
    let completed = settle(&mut p0, &mut p1, messages(&sent));
    assert!(completed.contains(&(sent.pending[0].1, all_done(2))), "{completed:?}");
    assert_eq!((posted(&p0, &payer), posted(&p1, &far), posted(&p1, &other)), (70, 30, 50));
    let short = commit(&mut p0, &[], vec![linked(vec![leg("c", &payer, &far, 10), leg("d", &far, &other, 35)])]);
    let completed = settle(&mut p0, &mut p1, messages(&short));
    let rejected = Outcome::BatchRejected { leg: 1, rejection: Rejection::InsufficientFunds };
    assert!(completed.contains(&(short.pending[0].1, rejected)), "{completed:?}");
    assert_eq!((posted(&p0, &payer), posted(&p1, &far), posted(&p1, &other)), (70, 30, 50));
    for machine in [&p0, &p1] {
        assert_eq!(machine.transit().reservations(), (0, 0));
        assert!(machine.transit().in_flight().is_empty() && machine.transit().open_messages().is_empty());
    }
}

fn close(account: &Id) -> Command {
    Command::CloseAccount { account: account.clone() }
}

#[test]
fn the_batch_answers_only_once_its_leg_elsewhere_is_paid_and_settled() {
    let [mut p0, mut p1] = machines();
    let near = account_on(&p0, 0, "near");
    let far = account_on(&p0, 1, "far");
    open(&mut p0, &near, 0);
    open(&mut p1, &far, 40);
    let sent = commit(&mut p0, &[], vec![linked(vec![leg("a", &far, &near, 40)])]);
    let reserved = commit(&mut p1, &messages(&sent), vec![]);
    let applied = commit(&mut p0, &messages(&reserved), vec![]);
    let paid = commit(&mut p1, &messages(&applied), vec![]);
    assert_eq!(posted(&p1, &far), 0);
    let credited = commit(&mut p0, &messages(&paid), vec![]);
    assert_eq!(posted(&p0, &near), 40);
    assert!(credited.completed.is_empty(), "the move is answered once its credit is settled");
    let answered = commit(&mut p1, &messages(&credited), vec![]);
    let done = commit(&mut p0, &messages(&answered), vec![]);
    let applied = Outcome::Applied(Reply::TransferBatch(vec![Outcome::Applied(Reply::Done)]));
    assert!(done.completed.contains(&(sent.pending[0].1, applied)), "{:?}", done.completed);
}

#[test]
fn a_reserved_legs_credit_never_releases_another_batchs_funds_reservation_of_the_same_number() {
    let [mut p0, mut p1] = machines();
    let (a0, b0) = (account_on(&p0, 0, "a"), account_on(&p0, 0, "b"));
    let (c1, d1) = (account_on(&p0, 1, "c"), account_on(&p0, 1, "d"));
    for account in [&a0, &b0] {
        open(&mut p0, account, 100);
    }
    for account in [&c1, &d1] {
        open(&mut p1, account, 100);
    }
    // A transfer from partition 1 takes a number there, so that its batch's reservation below
    // is numbered as partition 0's own payee reservation will be.
    let credit = commit(&mut p1, &[], vec![Command::Transfer(leg("t", &d1, &b0, 5))]);
    commit(&mut p1, &messages(&commit(&mut p0, &messages(&credit), vec![])), vec![]);
    // Partition 1's batch reserves a0's funds on partition 0, numbered by partition 1; its
    // answer is held back, so the reservation stays.
    let first = commit(&mut p1, &[], vec![linked(vec![leg("x", &a0, &d1, 10), leg("y", &d1, &c1, 1)])]);
    let reserved_here = commit(&mut p0, &messages(&first), vec![]);
    // Partition 0's batch pays b0 (reserved here) from c1 on partition 1: the leg's credit comes
    // from partition 1 with partition 0's reservation number, which may equal the other's.
    let second = commit(&mut p0, &[], vec![linked(vec![leg("z", &c1, &b0, 30), leg("w", &b0, &a0, 1)])]);
    let completed = settle(&mut p0, &mut p1, messages(&second));
    assert!(completed.contains(&(second.pending[0].1, all_done(2))), "{completed:?}");
    assert_eq!(posted(&p0, &b0), 134, "the leg paid its own payee");
    // The first batch's reservation of a0 was untouched: it applies once answered.
    let answered = commit(&mut p1, &messages(&reserved_here), vec![]);
    let mut to_p0 = messages(&answered);
    let mut done = answered.completed.clone();
    while !to_p0.is_empty() {
        let back = commit(&mut p0, &to_p0, vec![]);
        let again = commit(&mut p1, &messages(&back), vec![]);
        done.extend(again.completed.clone());
        to_p0 = messages(&again);
    }
    assert!(done.contains(&(first.pending[0].1, all_done(2))), "{done:?}");
    assert_eq!((posted(&p0, &a0), posted(&p1, &d1), posted(&p1, &c1)), (91, 104, 71));
    for machine in [&p0, &p1] {
        assert_eq!(machine.transit().reservations(), (0, 0));
        assert!(machine.transit().in_flight().is_empty() && machine.transit().open_messages().is_empty());
    }
}
