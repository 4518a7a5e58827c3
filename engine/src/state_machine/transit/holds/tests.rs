//! Holds whose payee lives on another partition, message by message: a placement waits for its
//! payee's check and a refusal changes nothing; a capture credits the payee there, and a refused
//! capture leaves the hold as it was.

use super::super::tests::{NOW, account_on, commit, machines, messages, open, posted};
use crate::command::{CaptureHold, Command, OpenAccount, Outcome, PlaceHold, Principal, Rejection, Reply, Submission};
use crate::partition::TransitMessage;
use crate::state_machine::{CommitOutput, HoldState, StateMachine};
use crate::types::{Currency, Id};

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn place(hold: &str, from: &Id, to: &Id, amount: u64) -> Command {
    Command::PlaceHold(PlaceHold {
        id: id(hold),
        from: from.clone(),
        to: to.clone(),
        amount,
        currency: Currency::EUR,
        expires_at_ms: NOW + 60_000,
    })
}

fn capture(hold: &str, amount: u64) -> Command {
    Command::CaptureHold(CaptureHold { hold: id(hold), amount })
}

fn held(machine: &StateMachine, account: &Id) -> u64 {
    machine.account(account).unwrap().held
}

fn commit_as(machine: &mut StateMachine, principal: &Principal, command: Command) -> CommitOutput {
    let mut output = CommitOutput::default();
    machine.commit_with_messages(NOW, &[], &[Submission::new(principal.clone(), command)], &mut output);
    machine.check_invariants();
    output
}

#[test]
fn a_placement_waits_for_its_payees_check_and_a_refusal_changes_nothing() {
    let [mut p0, mut p1] = machines();
    let (payer, payee) = (account_on(&p0, 0, "payer"), account_on(&p0, 1, "payee"));
    open(&mut p0, &payer, 1_000);

    let sent = commit(&mut p0, &[], vec![place("h1", &payer, &payee, 400)]);
    assert_eq!(sent.pending, vec![(0, 1)], "the outcome waits for the payee's partition");
    assert!(matches!(&messages(&sent)[..], [TransitMessage::Check(check)] if check.account == payee));
    assert_eq!(held(&p0, &payer), 0, "nothing is reserved before the answer");
    assert!(p0.hold(&id("h1")).is_none() && p0.placing_hold(&id("h1")));
    // An answer of another kind under the check's number is not the check's answer.
    let stray = TransitMessage::Settled { payee_partition: 1, number: 1, refused: None };
    assert!(commit(&mut p0, &[stray], vec![]).completed.is_empty());
    assert!(p0.placing_hold(&id("h1")));
    // A repeat waits for the same answer; another body is another placement of a taken id.
    let repeat = commit(&mut p0, &[], vec![place("h1", &payer, &payee, 400), place("h1", &payer, &payee, 401)]);
    assert_eq!(repeat.pending, vec![(0, 1)]);
    assert_eq!(repeat.outcomes[1], Outcome::Rejected(Rejection::IdReused));
    assert!(repeat.outgoing.is_empty());

    // The payee does not exist: answered (every time: a check changes nothing), then refused.
    let answer = commit(&mut p1, &messages(&sent), vec![]);
    assert_eq!(messages(&answer), messages(&commit(&mut p1, &messages(&sent), vec![])));
    let done = commit(&mut p0, &messages(&answer), vec![]);
    assert_eq!(done.completed, vec![(1, Outcome::Rejected(Rejection::CounterpartyNotFound))]);
    assert!(done.events.is_empty(), "a refused placement changes nothing");
    assert!(commit(&mut p0, &messages(&answer), vec![]).completed.is_empty(), "a stale answer is ignored");
    assert!(p0.hold(&id("h1")).is_none() && !p0.placing_hold(&id("h1")));
    assert!(p0.transit().open_messages().is_empty());
    assert_eq!((posted(&p0, &payer), held(&p0, &payer)), (1_000, 0));
}

#[test]
fn a_checked_placement_applies_again_and_keeps_the_payees_owners() {
    let [mut p0, mut p1] = machines();
    let (payer, payee) = (account_on(&p0, 0, "payer"), account_on(&p0, 1, "payee"));
    open(&mut p0, &payer, 1_000);
    let shop = Principal::App(id("shop"));
    let open_payee = OpenAccount { account: payee.clone(), currency: Currency::EUR, overdraft_limit: 0 };
    assert!(commit_as(&mut p1, &shop, Command::OpenAccount(open_payee)).outcomes[0].is_applied());

    let sent = commit(&mut p0, &[], vec![place("h1", &payer, &payee, 400)]);
    let answer = commit(&mut p1, &messages(&sent), vec![]);
    assert!(
        matches!(&messages(&answer)[..], [TransitMessage::Checked { answer: Ok(account), .. }] if account.owners() == vec![shop.clone()])
    );
    // Meanwhile the payer spent some of its money: the placement is decided on what is left.
    let spend = crate::command::Movement { id: id("w1"), account: payer.clone(), amount: 700 };
    commit(&mut p0, &[], vec![Command::Withdraw(spend)]);
    let refused = commit(&mut p0, &messages(&answer), vec![]);
    assert_eq!(refused.completed, vec![(1, Outcome::Rejected(Rejection::InsufficientFunds))]);

    let sent = commit(&mut p0, &[], vec![place("h2", &payer, &payee, 300)]);
    let placed = commit(&mut p0, &messages(&commit(&mut p1, &messages(&sent), vec![])), vec![]);
    assert_eq!(placed.completed, vec![(2, Outcome::Applied(Reply::Done))]);
    assert_eq!(held(&p0, &payer), 300);
    assert_eq!(p0.hold(&id("h2")).unwrap().payee_owners, vec![shop.clone()]);
    // The payee's owner, known on the payer's partition only through the hold, may capture it.
    let captured = commit_as(&mut p0, &shop, capture("h2", 100));
    assert_eq!(captured.pending, vec![(0, 3)]);
    let stranger = commit_as(&mut p0, &Principal::App(id("stranger")), capture("h2", 100));
    assert_eq!(stranger.outcomes, vec![Outcome::Rejected(Rejection::Forbidden)]);
}

#[test]
fn a_capture_credits_the_payee_and_a_refusal_leaves_the_hold_as_it_was() {
    let [mut p0, mut p1] = machines();
    let (payer, payee, closing) =
        (account_on(&p0, 0, "payer"), account_on(&p0, 1, "payee"), account_on(&p0, 1, "closing"));
    open(&mut p0, &payer, 1_000);
    open(&mut p1, &payee, 0);
    open(&mut p1, &closing, 0);
    for (hold, to) in [("h1", &payee), ("h2", &closing)] {
        let sent = commit(&mut p0, &[], vec![place(hold, &payer, to, 400)]);
        commit(&mut p0, &messages(&commit(&mut p1, &messages(&sent), vec![])), vec![]);
    }
    assert_eq!(held(&p0, &payer), 800);

    // In flight: the captured amount is in transit, the rest still reserved.
    let sent = commit(&mut p0, &[], vec![capture("h1", 300)]);
    assert_eq!(p0.hold(&id("h1")).unwrap().state, HoldState::Capturing(300));
    assert_eq!((posted(&p0, &payer), held(&p0, &payer)), (700, 500));
    assert_eq!(p0.transit().in_flight()[&Currency::EUR], 300);
    let repeat =
        commit(&mut p0, &[], vec![capture("h1", 300), capture("h1", 200), Command::VoidHold { hold: id("h1") }]);
    assert_eq!(repeat.pending, vec![(0, 3)], "the same capture waits for the same answer");
    let resolved = Outcome::Rejected(Rejection::HoldAlreadyResolved);
    assert_eq!(repeat.outcomes[1..], [resolved.clone(), resolved]);
    let credited = commit(&mut p1, &messages(&sent), vec![]);
    assert_eq!(posted(&p1, &payee), 300);
    let done = commit(&mut p0, &messages(&credited), vec![]);
    assert_eq!(done.completed, vec![(3, Outcome::Applied(Reply::Captured { captured: 300, released: 100 }))]);
    assert_eq!(p0.hold(&id("h1")).unwrap().state, HoldState::Captured(300));
    assert_eq!((posted(&p0, &payer), held(&p0, &payer)), (700, 400));
    assert!(p0.transit().in_flight().is_empty());

    // Refused where the payee lives (closed since): the money and the reservation come back.
    commit(&mut p1, &[], vec![Command::CloseAccount { account: closing.clone() }]);
    let sent = commit(&mut p0, &[], vec![capture("h2", 400)]);
    assert_eq!((posted(&p0, &payer), held(&p0, &payer)), (300, 0));
    let refused = commit(&mut p0, &messages(&commit(&mut p1, &messages(&sent), vec![])), vec![]);
    assert_eq!(refused.completed, vec![(4, Outcome::Rejected(Rejection::AccountClosed))]);
    assert_eq!(p0.hold(&id("h2")).unwrap().state, HoldState::Active);
    assert_eq!((posted(&p0, &payer), held(&p0, &payer)), (700, 400));
    // Active again, it expires as it would have.
    let mut output = CommitOutput::default();
    p0.commit(NOW + 60_000, &Submission::admin_all([Command::Tick]), &mut output);
    assert_eq!(output.outcomes, vec![Outcome::Applied(Reply::Ticked { expired: 1 })]);
    assert_eq!(held(&p0, &payer), 0);
    assert_eq!(p0.transit().net_inflow()[&Currency::EUR] + p1.transit().net_inflow()[&Currency::EUR], 0);
}
