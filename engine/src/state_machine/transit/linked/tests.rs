//! Linked batches paying on another partition, message by message: payees reserved first, the
//! batch applied all at once or not at all, reservations consumed or released exactly once.

use crate::command::{Command, Movement, Outcome, Rejection, Reply, Transfer, TransferBatch};
use crate::partition::{Paying, TransitMessage};
use crate::state_machine::CommitOutput;
use crate::state_machine::tests::id;
use crate::state_machine::transit::tests::{account_on, commit, machines, messages, open, posted};
use crate::types::{Currency, Id};

fn leg(name: &str, from: &Id, to: &Id, amount: u64) -> Transfer {
    Transfer { id: id(name), from: from.clone(), to: to.clone(), amount, currency: Currency::EUR }
}

fn linked(transfers: Vec<Transfer>) -> Command {
    Command::TransferBatch(TransferBatch { atomic: true, transfers })
}

fn close(account: &Id) -> Command {
    Command::CloseAccount { account: account.clone() }
}

fn all_done(legs: usize) -> Outcome {
    Outcome::Applied(Reply::TransferBatch(vec![Outcome::Applied(Reply::Done); legs]))
}

/// The reservations a batch's partition sent.
fn reserves(output: &CommitOutput) -> usize {
    messages(output).iter().filter(|message| matches!(message, TransitMessage::Reserve(_))).count()
}

mod payers;

#[test]
fn payees_elsewhere_are_reserved_first_then_every_leg_applies_at_once() {
    let [mut p0, mut p1] = machines();
    let (payer, near) = (account_on(&p0, 0, "payer"), account_on(&p0, 0, "near"));
    let far = account_on(&p0, 1, "far");
    open(&mut p0, &payer, 100);
    open(&mut p0, &near, 0);
    open(&mut p1, &far, 0);
    let sent = commit(&mut p0, &[], vec![linked(vec![leg("a", &payer, &far, 30), leg("b", &payer, &near, 20)])]);
    assert_eq!((sent.pending.len(), reserves(&sent)), (1, 1), "the batch waits for its payee's reservation");
    assert_eq!((posted(&p0, &payer), posted(&p0, &near)), (100, 0), "nothing moves before the payee is reserved");
    // The reservation applies once however often it arrives (a copy sent again after a restart).
    let resend: Vec<TransitMessage> = p0.transit().open_messages().into_iter().map(|out| out.message).collect();
    assert_eq!(resend, messages(&sent));
    let reserved = commit(&mut p1, &messages(&sent), vec![close(&far)]);
    assert_eq!(reserved.outcomes, vec![Outcome::Rejected(Rejection::AccountNotEmpty)], "a reserved payee stays open");
    let again = commit(&mut p1, &resend, vec![]);
    assert_eq!(messages(&again), messages(&reserved), "a copy is answered as the first was");
    // Both payees known: the batch applies, its leg elsewhere debited into the transit.
    let applied = commit(&mut p0, &messages(&reserved), vec![]);
    assert_eq!((posted(&p0, &payer), posted(&p0, &near)), (50, 20));
    assert!(applied.completed.is_empty(), "the batch answers once its payee is paid");
    let credit = messages(&applied);
    assert!(matches!(&credit[..], [TransitMessage::Credit(c)] if matches!(c.paying, Paying::ReservedLeg { .. })));
    let paid = commit(&mut p1, &credit, vec![]);
    commit(&mut p1, &credit, vec![]); // A copy pays nothing more.
    assert_eq!(posted(&p1, &far), 30);
    assert!(!p1.transit().payee_reserved(&far));
    let done = commit(&mut p0, &messages(&paid), vec![]);
    assert!(done.completed.contains(&(sent.pending[0].1, all_done(2))), "{:?}", done.completed);
    assert!(p0.transit().in_flight().is_empty() && p0.transit().open_messages().is_empty());
    // A repeat of the whole batch is answered as the first was and moves nothing.
    let repeat = commit(&mut p0, &[], vec![linked(vec![leg("a", &payer, &far, 30), leg("b", &payer, &near, 20)])]);
    assert_eq!((repeat.outcomes[0].clone(), reserves(&repeat)), (all_done(2), 0));
    assert_eq!(posted(&p0, &payer), 50);
}

#[test]
fn a_payee_refused_elsewhere_refuses_the_whole_batch_and_releases_the_others() {
    let [mut p0, mut p1] = machines();
    let (payer, near) = (account_on(&p0, 0, "payer"), account_on(&p0, 0, "near"));
    let (far, missing) = (account_on(&p0, 1, "far"), account_on(&p0, 1, "missing"));
    open(&mut p0, &payer, 100);
    open(&mut p0, &near, 0);
    open(&mut p1, &far, 0);
    let legs = vec![leg("a", &payer, &near, 10), leg("b", &payer, &far, 30), leg("c", &payer, &missing, 20)];
    let sent = commit(&mut p0, &[], vec![linked(legs)]);
    assert_eq!(reserves(&sent), 2, "every payee the batch reaches is reserved at once");
    let answered = commit(&mut p1, &messages(&sent), vec![]);
    let refused = commit(&mut p0, &messages(&answered), vec![]);
    assert_eq!((posted(&p0, &payer), posted(&p0, &near)), (100, 0), "a refused batch changes nothing");
    assert!(refused.completed.is_empty(), "it answers once the payee reserved is free again");
    let still_reserved = commit(&mut p1, &[], vec![close(&far)]);
    assert_eq!(still_reserved.outcomes, vec![Outcome::Rejected(Rejection::AccountNotEmpty)]);
    let released = commit(&mut p1, &messages(&refused), vec![close(&far)]);
    assert_eq!(released.outcomes, vec![Outcome::Applied(Reply::Done)], "released, the payee may close");
    assert_eq!(posted(&p1, &far), 0);
    let done = commit(&mut p0, &messages(&released), vec![]);
    let rejected = Outcome::BatchRejected { leg: 2, rejection: Rejection::CounterpartyNotFound };
    assert!(done.completed.contains(&(sent.pending[0].1, rejected)), "{:?}", done.completed);
    assert!(p0.transit().open_messages().is_empty() && p1.transit().open_messages().is_empty());
}

#[test]
fn a_batch_refused_on_its_own_partition_first_sends_nothing() {
    let [mut p0, p1] = machines();
    let (payer, far) = (account_on(&p0, 0, "payer"), account_on(&p1, 1, "far"));
    let missing_here = account_on(&p0, 0, "missing");
    open(&mut p0, &payer, 100);
    let output = commit(
        &mut p0,
        &[],
        vec![
            linked(vec![leg("a", &payer, &missing_here, 10), leg("b", &payer, &far, 30)]),
            linked(vec![leg("c", &payer, &far, 500)]),
            linked(vec![leg("d", &far, &payer, 0), leg("e", &payer, &far, 10)]),
        ],
    );
    assert_eq!(
        output.outcomes,
        vec![
            Outcome::BatchRejected { leg: 0, rejection: Rejection::CounterpartyNotFound },
            Outcome::BatchRejected { leg: 0, rejection: Rejection::InsufficientFunds },
            Outcome::BatchRejected { leg: 0, rejection: Rejection::InvalidAmount },
        ],
        "decided here: the payer checked before the payee, a leg's amount before its payer elsewhere"
    );
    assert!(output.outgoing.is_empty() && output.pending.is_empty());
}

#[test]
fn a_batch_whose_partition_changed_meanwhile_is_decided_again_from_the_start() {
    let [mut p0, mut p1] = machines();
    let (payer, far) = (account_on(&p0, 0, "payer"), account_on(&p0, 1, "far"));
    open(&mut p0, &payer, 100);
    open(&mut p1, &far, 0);
    let sent = commit(&mut p0, &[], vec![linked(vec![leg("a", &payer, &far, 60)])]);
    let withdrawal = Command::Withdraw(Movement { id: id("w"), account: payer.clone(), amount: 50 });
    assert!(commit(&mut p0, &[], vec![withdrawal]).outcomes[0].is_applied());
    let answered = commit(&mut p1, &messages(&sent), vec![]);
    let refused = commit(&mut p0, &messages(&answered), vec![]);
    let released = commit(&mut p1, &messages(&refused), vec![]);
    let done = commit(&mut p0, &messages(&released), vec![]);
    let rejected = Outcome::BatchRejected { leg: 0, rejection: Rejection::InsufficientFunds };
    assert!(done.completed.contains(&(sent.pending[0].1, rejected)), "{:?}", done.completed);
    assert_eq!((posted(&p0, &payer), posted(&p1, &far)), (50, 0));
    assert!(!p1.transit().payee_reserved(&far));
}

#[test]
fn a_payees_ceiling_counts_what_other_batches_reserved_for_it() {
    use crate::constants::{AMOUNT_MINOR_MAX, BALANCE_MINOR_MAX};
    let [mut p0, mut p1] = machines();
    let (payer, far) = (account_on(&p0, 0, "payer"), account_on(&p0, 1, "far"));
    open(&mut p0, &payer, 0);
    open(&mut p1, &far, 0);
    let deposit = |name: String, account: &Id, amount: u64| {
        Command::Deposit(Movement { id: id(&name), account: account.clone(), amount })
    };
    let funds = (0..2).map(|n| deposit(format!("p{n}"), &payer, AMOUNT_MINOR_MAX)).collect();
    assert!(commit(&mut p0, &[], funds).outcomes.iter().all(Outcome::is_applied));
    // The payee holds its ceiling less one and a half maximal amounts.
    let room = AMOUNT_MINOR_MAX + AMOUNT_MINOR_MAX / 2;
    let target = u64::try_from(BALANCE_MINOR_MAX).unwrap() - room;
    let mut fill: Vec<Command> =
        (0..target / AMOUNT_MINOR_MAX).map(|n| deposit(format!("f{n}"), &far, AMOUNT_MINOR_MAX)).collect();
    fill.push(deposit("f-rest".into(), &far, target % AMOUNT_MINOR_MAX));
    assert!(commit(&mut p1, &[], fill).outcomes.iter().all(Outcome::is_applied));
    assert_eq!(posted(&p1, &far), i64::try_from(target).unwrap());
    // Two batches each paying a maximal amount: each fits alone, not both.
    let first = commit(&mut p0, &[], vec![linked(vec![leg("a", &payer, &far, AMOUNT_MINOR_MAX)])]);
    let second = commit(&mut p0, &[], vec![linked(vec![leg("b", &payer, &far, AMOUNT_MINOR_MAX)])]);
    let answers = commit(&mut p1, &[messages(&first), messages(&second)].concat(), vec![]);
    let decided = commit(&mut p0, &messages(&answers), vec![]);
    let settled = commit(&mut p1, &messages(&decided), vec![]);
    let done = commit(&mut p0, &messages(&settled), vec![]);
    assert!(done.completed.contains(&(first.pending[0].1, all_done(1))), "{:?}", done.completed);
    let overflow = Outcome::BatchRejected { leg: 0, rejection: Rejection::Overflow };
    let completed: Vec<_> = decided.completed.iter().chain(&done.completed).cloned().collect();
    assert!(completed.contains(&(second.pending[0].1, overflow)), "{completed:?}");
    assert_eq!(posted(&p1, &far), i64::try_from(target + AMOUNT_MINOR_MAX).unwrap());
    assert_eq!(p1.transit().reservations(), (0, 0));
}
