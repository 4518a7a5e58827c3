//! Merchants whose account lives off the home partition, message by message: the registration
//! checks the account where it lives (its owner for a merchant registering itself); a sale pays
//! it by a credit; a sale placing a hold checks it first and is decided as on one partition; a
//! capture pays it where it lives; a reversal takes the money back from there.

use super::super::tests::{NOW, account_on, authorize, commit, machines, messages, open, posted};
use crate::command::{
    CaptureHold, Command, Movement, OpenAccount, Outcome, Principal, RegisterMerchant, RegisterTerminal, Rejection,
    Reply, Submission,
};
use crate::partition::TransitMessage;
use crate::state_machine::authorizations::AuthorizationState;
use crate::state_machine::tests::{settle, settle_held};
use crate::state_machine::{CommitOutput, HoldState, StateMachine};
use crate::types::{Currency, Id};

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn deliver(machine: &mut StateMachine, output: &CommitOutput) -> CommitOutput {
    commit(machine, &messages(output), vec![])
}

fn commit_as(machine: &mut StateMachine, principal: &Principal, command: Command) -> CommitOutput {
    let mut output = CommitOutput::default();
    let submission = Submission { principal: principal.clone(), ..Submission::admin(command) };
    machine.commit_with_messages(NOW, &[], &[submission], &mut output);
    machine.check_invariants();
    output
}

fn register(merchant: &str, account: &Id) -> Command {
    Command::RegisterMerchant(RegisterMerchant { merchant: id(merchant), account: account.clone() })
}

/// Registers `shop` (on home partition 0) with `takings` on partition 1, checked there, and its
/// terminal `t1`; returns the registration's outcome.
fn register_shop_elsewhere(p0: &mut StateMachine, p1: &mut StateMachine, takings: &Id) -> Outcome {
    let sent = commit(p0, &[], vec![register("shop", takings)]);
    assert_eq!(sent.pending.len(), 1, "the registration waits for its account's check");
    assert!(matches!(&messages(&sent)[..], [TransitMessage::Check(check)] if check.account == *takings));
    let done = deliver(p0, &deliver(p1, &sent));
    let [(_, outcome)] = &done.completed[..] else { panic!("{:?}", done.completed) };
    let terminal = RegisterTerminal { terminal: id("t1"), merchant: id("shop"), mac_key: None, location: None };
    commit(p0, &[], vec![Command::RegisterTerminal(terminal)]);
    outcome.clone()
}

/// Partitions 0 (home) and 1; `shop`'s account `takings` on 1, a payer on `payer_on` holding
/// `deposit`, and authorization `a1` of user `u1` on it (limit 500). Returns the machines,
/// the payer, the merchant's account and the code.
fn setup(payer_on: u16, deposit: u64) -> ([StateMachine; 2], Id, Id, String) {
    let [mut p0, mut p1] = machines();
    let (payer, takings) = (account_on(&p0, payer_on, "payer"), account_on(&p0, 1, "takings"));
    open(if payer_on == 0 { &mut p0 } else { &mut p1 }, &payer, deposit);
    open(&mut p1, &takings, 0);
    assert!(register_shop_elsewhere(&mut p0, &mut p1, &takings).is_applied());
    let mut done = commit(&mut p0, &[], vec![authorize("a1", &payer, 7)]);
    if payer_on != 0 {
        done = deliver(&mut p0, &deliver(&mut p1, &done));
        done.outcomes = done.completed.into_iter().map(|(_, outcome)| outcome).collect();
    }
    let [Outcome::Applied(Reply::Authorized { code, .. })] = &done.outcomes[..] else { panic!("{:?}", done.outcomes) };
    ([p0, p1], payer, takings, code.clone())
}

#[test]
fn a_merchant_registers_with_an_account_that_lives_on_another_partition() {
    let [mut p0, mut p1] = machines();
    let takings = account_on(&p0, 1, "takings");
    // Missing there: refused as on one partition; nothing registered.
    assert_eq!(register_shop_elsewhere(&mut p0, &mut p1, &takings), Outcome::Rejected(Rejection::AccountNotFound));
    assert!(p0.merchant(&id("shop")).is_none());
    open(&mut p1, &takings, 0);
    assert!(register_shop_elsewhere(&mut p0, &mut p1, &takings).is_applied());
    assert_eq!(p0.merchant(&id("shop")).unwrap().account, takings);
    // Registered again alike: applied; with another account: already_exists.
    let again = commit(&mut p0, &[], vec![register("shop", &takings)]);
    let done = deliver(&mut p0, &deliver(&mut p1, &again));
    assert!(done.completed[0].1.is_applied());
    let other = account_on(&p0, 1, "other");
    let sent = commit(&mut p0, &[], vec![register("shop", &other)]);
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert_eq!(done.completed[0].1, Outcome::Rejected(Rejection::AlreadyExists));

    // A merchant registers itself with an account it opened there; another merchant may not.
    let (own, own_account) = (Principal::Merchant(id("m2")), account_on(&p0, 1, "own"));
    let opened = OpenAccount { account: own_account.clone(), currency: Currency::EUR, overdraft_limit: 0 };
    assert!(commit_as(&mut p1, &own, Command::OpenAccount(opened)).outcomes[0].is_applied());
    let stranger = Principal::Merchant(id("m3"));
    // Registering another merchant is refused before anything is asked.
    let other = commit_as(&mut p0, &stranger, register("m2", &own_account));
    assert_eq!(other.outcomes[0], Outcome::Rejected(Rejection::Forbidden));
    assert!(other.outgoing.is_empty());
    let sent = commit_as(&mut p0, &stranger, register("m3", &own_account));
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert_eq!(done.completed[0].1, Outcome::Rejected(Rejection::Forbidden));
    assert!(p0.merchant(&id("m3")).is_none());
    let sent = commit_as(&mut p0, &own, register("m2", &own_account));
    assert!(deliver(&mut p0, &deliver(&mut p1, &sent)).completed[0].1.is_applied());
    // An app may not register a merchant: refused before anything is asked.
    let app = commit_as(&mut p0, &Principal::App(id("app")), register("m4", &own_account));
    assert_eq!(app.outcomes[0], Outcome::Rejected(Rejection::Forbidden));
    assert!(app.outgoing.is_empty());
    // A closed account is refused in its turn.
    commit(&mut p1, &[], vec![Command::CloseAccount { account: own_account.clone() }]);
    let sent = commit(&mut p0, &[], vec![register("m5", &own_account)]);
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert_eq!(done.completed[0].1, Outcome::Rejected(Rejection::AccountClosed));
    assert!(p0.transit().open_messages().is_empty() && p1.transit().in_flight().is_empty());
}

#[test]
fn a_sale_pays_a_merchant_account_on_another_partition_and_a_reversal_takes_it_back() {
    let ([mut p0, mut p1], payer, takings, code) = setup(0, 1_000);
    let sent = commit(&mut p0, &[], vec![settle("s1", &code, 300)]);
    assert!(matches!(&messages(&sent)[..], [TransitMessage::Credit(credit)] if credit.to == takings));
    assert_eq!(posted(&p0, &payer), 700, "the payer here is debited at once");
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert!(matches!(&done.completed[..], [(_, Outcome::Applied(Reply::Settled { charged: 300, .. }))]));
    assert_eq!(posted(&p1, &takings), 300);
    // The reversal debits the merchant's account where it lives and pays the payer back here.
    let reversal = commit(&mut p0, &[], vec![Command::ReversePos { settlement: id("s1") }]);
    assert!(matches!(&messages(&reversal)[..], [TransitMessage::Move(payment)] if payment.from == takings));
    let credited = deliver(&mut p0, &deliver(&mut p1, &reversal));
    let done = deliver(&mut p0, &deliver(&mut p1, &credited));
    assert!(done.completed.iter().any(|(_, outcome)| *outcome == Outcome::Applied(Reply::Done)));
    assert_eq!((posted(&p0, &payer), posted(&p1, &takings)), (1_000, 0));

    // The merchant's account closed: the sale is refused there, the payer refunded, the code
    // usable again.
    commit(&mut p1, &[], vec![Command::CloseAccount { account: takings.clone() }]);
    let [mut p0, mut p1] = [p0, p1];
    let Outcome::Applied(Reply::Authorized { code, .. }) = authorize_again(&mut p0, &payer) else { panic!() };
    let sent = commit(&mut p0, &[], vec![settle("s2", &code, 50)]);
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert_eq!(done.completed, vec![(sent.pending[0].1, Outcome::Rejected(Rejection::AccountClosed))]);
    assert_eq!(posted(&p0, &payer), 1_000, "refunded");
    assert_eq!(p0.authorization(&id("a2")).unwrap().state, AuthorizationState::Active);
}

fn authorize_again(p0: &mut StateMachine, payer: &Id) -> Outcome {
    commit(p0, &[], vec![authorize("a2", payer, 8)]).outcomes.remove(0)
}

#[test]
fn a_held_sale_checks_its_merchant_account_where_it_lives_then_holds_here() {
    let ([mut p0, mut p1], payer, takings, code) = setup(0, 1_000);
    let held = || settle_held("s1", &code, 300, NOW + 30_000);
    let sent = commit(&mut p0, &[], vec![held()]);
    assert!(matches!(&messages(&sent)[..], [TransitMessage::Check(check)] if check.account == takings));
    assert!(p0.hold(&id("s1")).is_none() && p0.placing_hold(&id("s1")), "nothing held before the answer");
    // A copy waits for the same answer; another body under the id is refused.
    let copies = commit(&mut p0, &[], vec![held(), settle_held("s1", &code, 301, NOW + 30_000)]);
    assert_eq!(copies.pending, vec![(0, sent.pending[0].1)]);
    assert_eq!(copies.outcomes[1], Outcome::Rejected(Rejection::IdReused));
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert!(matches!(&done.completed[..], [(_, Outcome::Applied(Reply::Settled { charged: 300, .. }))]));
    assert_eq!(p0.hold(&id("s1")).unwrap().state, HoldState::Active);
    assert_eq!(p0.account(&payer).unwrap().held, 300);
    // The capture pays the merchant's account where it lives.
    let capture = Command::CaptureHold(CaptureHold { hold: id("s1"), amount: 200 });
    let sent = commit(&mut p0, &[], vec![capture]);
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert!(matches!(&done.completed[..], [(_, Outcome::Applied(Reply::Captured { captured: 200, released: 100 }))]));
    assert_eq!((posted(&p0, &payer), p0.account(&payer).unwrap().held, posted(&p1, &takings)), (800, 0, 200));

    // The merchant's account closed: a held sale is refused in its turn, nothing held.
    let takings_out = Movement { id: id("w1"), account: takings.clone(), amount: 200 };
    let closed =
        commit(&mut p1, &[], vec![Command::Withdraw(takings_out), Command::CloseAccount { account: takings.clone() }]);
    assert!(closed.outcomes.iter().all(Outcome::is_applied));
    let Outcome::Applied(Reply::Authorized { code, .. }) = authorize_again(&mut p0, &payer) else { panic!() };
    let sent = commit(&mut p0, &[], vec![settle_held("s2", &code, 100, NOW + 30_000)]);
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert_eq!(done.completed, vec![(sent.pending[0].1, Outcome::Rejected(Rejection::AccountClosed))]);
    assert!(p0.hold(&id("s2")).is_none() && !p0.placing_hold(&id("s2")));
    assert_eq!(p0.account(&payer).unwrap().held, 0);
    assert_eq!(p0.authorization(&id("a2")).unwrap().state, AuthorizationState::Active);
    assert!(p0.transit().open_messages().is_empty() && p1.transit().open_messages().is_empty());
}

#[test]
fn a_held_sale_whose_payer_and_merchant_share_a_partition_is_captured_there_at_once() {
    let ([mut p0, mut p1], payer, takings, code) = setup(1, 1_000);
    let sent = commit(&mut p0, &[], vec![settle_held("s1", &code, 300, NOW + 30_000)]);
    assert!(matches!(&messages(&sent)[..], [TransitMessage::Check(_)]), "the merchant's account first");
    let moved = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert!(matches!(&messages(&moved)[..], [TransitMessage::Move(_)]), "then the payer's funds");
    let done = deliver(&mut p0, &deliver(&mut p1, &moved));
    // Answered under the check's number (the caller waits on it) and the move's.
    let settled = |(_, outcome): &(u64, Outcome)| matches!(outcome, Outcome::Applied(Reply::Settled { .. }));
    assert!(done.completed.iter().any(|entry| entry.0 == sent.pending[0].1 && settled(entry)), "{:?}", done.completed);
    assert_eq!(p1.account(&payer).unwrap().held, 300);
    let capture = commit(&mut p0, &[], vec![Command::CaptureHold(CaptureHold { hold: id("s1"), amount: 120 })]);
    let answered = deliver(&mut p1, &capture);
    assert!(matches!(&messages(&answered)[..], [TransitMessage::Settled { .. }]), "paid there, no credit");
    let done = deliver(&mut p0, &answered);
    assert!(matches!(&done.completed[..], [(_, Outcome::Applied(Reply::Captured { captured: 120, .. }))]));
    assert_eq!((posted(&p1, &payer), p1.account(&payer).unwrap().held, posted(&p1, &takings)), (880, 0, 120));
    assert_eq!(p0.hold(&id("s1")).unwrap().state, HoldState::Captured(120));
    assert!(p0.transit().in_flight().is_empty() && p1.transit().in_flight().is_empty());
}

#[test]
fn a_merchants_terminal_operator_and_copy_sent_with_its_registration_wait_for_it() {
    use crate::command::RegisterOperator;
    let [mut p0, mut p1] = machines();
    let takings = account_on(&p0, 1, "takings");
    let terminal = || {
        Command::RegisterTerminal(RegisterTerminal {
            terminal: id("t1"),
            merchant: id("shop"),
            mac_key: None,
            location: None,
        })
    };
    let operator = Command::RegisterOperator(RegisterOperator { operator: id("o1"), merchant: id("shop") });
    // Its account missing: the registration is refused, and so are those behind it.
    let sent = commit(&mut p0, &[], vec![register("shop", &takings), terminal()]);
    assert_eq!(sent.pending.len(), 2, "the terminal waits for the registration: {:?}", sent.outcomes);
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    let outcomes: Vec<Outcome> = done.completed.iter().map(|(_, outcome)| outcome.clone()).collect();
    assert_eq!(
        outcomes,
        [Outcome::Rejected(Rejection::AccountNotFound), Outcome::Rejected(Rejection::MerchantNotFound)]
    );
    // Its account open: one batch registers the merchant, its terminal and operator, in order; a
    // copy of the registration and one with another account wait, then answer as after it.
    open(&mut p1, &takings, 0);
    let other = account_on(&p0, 1, "other");
    let batch =
        vec![register("shop", &takings), terminal(), operator, register("shop", &takings), register("shop", &other)];
    let sent = commit(&mut p0, &[], batch);
    assert_eq!(sent.pending.len(), 5, "{:?}", sent.outcomes);
    assert_eq!(messages(&sent).len(), 1, "one check: the others wait for its answer");
    // Deliver until nothing is left in flight, collecting every answer.
    let mut completed = Vec::new();
    let mut output = sent.clone();
    while !output.outgoing.is_empty() {
        output = deliver(&mut p0, &deliver(&mut p1, &output));
        completed.extend(output.completed.clone());
    }
    let by_caller = |index: usize| {
        let number = sent.pending.iter().find(|(at, _)| *at == index).unwrap().1;
        completed.iter().find(|(n, _)| *n == number).map(|(_, outcome)| outcome.clone()).unwrap()
    };
    assert!((0..3).all(|index| by_caller(index).is_applied()), "{completed:?}");
    // The copies applied after it (checked again: their accounts live elsewhere).
    assert_eq!(by_caller(3), Outcome::Applied(Reply::Done));
    assert_eq!(by_caller(4), Outcome::Rejected(Rejection::AlreadyExists));
    assert!(p0.terminal(&id("t1")).is_some() && p0.transit().open_messages().is_empty());
}
