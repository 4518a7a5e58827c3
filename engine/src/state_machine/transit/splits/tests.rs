//! Splits whose accounts live on another partition, message by message: the request checks
//! them there; a share travels into the escrow exactly once; the completion pays a requester
//! elsewhere, or gives the last share back when it cannot; a cancellation gives shares back and
//! answers when they arrived; a member account with a share out may not close until then.

use super::super::tests::{NOW, account_on, commit, machines, messages, open, posted};
use crate::command::{Command, Outcome, PaySplitShare, Rejection, Reply, RequestSplit, SplitMember, SplitShares};
use crate::partition::TransitMessage;
use crate::state_machine::splits::SplitState;
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::{Currency, Id};

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn deliver(machine: &mut StateMachine, output: &CommitOutput) -> CommitOutput {
    commit(machine, &messages(output), vec![])
}

/// Runs `output`'s messages between the two partitions until none is left; returns every
/// completion on either side.
fn settle_all(machines: &mut [StateMachine; 2], output: CommitOutput) -> Vec<(u64, Outcome)> {
    let mut completed = output.completed.clone();
    let mut queue = vec![output];
    while let Some(next) = queue.pop() {
        for destination in [0u16, 1] {
            let sent: Vec<TransitMessage> = (next.outgoing.iter())
                .filter(|outgoing| outgoing.destination == destination)
                .map(|outgoing| outgoing.message.clone())
                .collect();
            if !sent.is_empty() {
                let answered = commit(&mut machines[usize::from(destination)], &sent, vec![]);
                completed.extend(answered.completed.clone());
                queue.push(answered);
            }
        }
    }
    completed
}

fn pay(member: &str) -> Command {
    Command::PaySplitShare(PaySplitShare { split: id("s1"), member: id(member) })
}

/// Split `s1` on partition 0 (its requester's): requester account `requester` (0 or 1), members `m0` (an
/// account on 0) and `m1` (an account on 1), each funded with `funds`, shares 300 + 200.
fn split_setup(requester_on: u16, funds: u64) -> ([StateMachine; 2], Id, Id, Id) {
    let [mut p0, mut p1] = machines();
    let requester = account_on(&p0, requester_on, "req");
    let (a0, a1) = (account_on(&p0, 0, "mem0"), account_on(&p0, 1, "mem1"));
    open(if requester_on == 0 { &mut p0 } else { &mut p1 }, &requester, 0);
    open(&mut p0, &a0, funds);
    open(&mut p1, &a1, funds);
    let request = Command::RequestSplit(RequestSplit {
        split: id("s1"),
        requester: account_on(&p0, 0, "u-req"),
        requester_account: requester.clone(),
        total: 500,
        currency: Currency::EUR,
        members: vec![
            SplitMember { user: id("m0"), account: a0.clone() },
            SplitMember { user: id("m1"), account: a1.clone() },
        ],
        shares: SplitShares::Explicit(vec![300, 200]),
        expires_at_ms: NOW + 600_000,
    });
    let sent = commit(&mut p0, &[], vec![request]);
    assert_eq!(sent.pending.len(), 1, "the request waits for its accounts' checks");
    let mut machines = [p0, p1];
    let completed = settle_all(&mut machines, sent);
    let requested = Outcome::Applied(Reply::SplitRequested { shares: vec![300, 200] });
    assert!(completed.iter().any(|(_, outcome)| *outcome == requested), "{completed:?}");
    (machines, requester, a0, a1)
}

#[test]
fn a_share_from_elsewhere_travels_into_escrow_and_a_cancellation_gives_it_back() {
    let (mut machines, requester, a0, a1) = split_setup(1, 1_000);
    let sent = commit(&mut machines[0], &[], vec![pay("m1")]);
    assert!(matches!(&messages(&sent)[..], [TransitMessage::Move(payment)] if payment.from == a1));
    // While the share is in flight the split's commands wait, and a copy of the move acts once.
    let waiting = commit(&mut machines[0], &[], vec![Command::CancelSplit { split: id("s1") }]);
    assert_eq!(waiting.pending.len(), 1);
    let debited = deliver(&mut machines[1], &sent);
    assert!(deliver(&mut machines[1], &sent).outgoing.is_empty(), "a copy of a move in flight waits");
    assert_eq!(posted(&machines[1], &a1), 800);
    // The member account may not close while its share is out.
    let close = commit(&mut machines[1], &[], vec![Command::CloseAccount { account: a1.clone() }]);
    assert_eq!(close.outcomes[0], Outcome::Rejected(Rejection::AccountNotEmpty));
    let completed = settle_all(&mut machines, debited);
    let (paid, cancelled) = (sent.pending[0].1, waiting.pending[0].1);
    let answer = |number| completed.iter().find(|(done, _)| *done == number).map(|(_, outcome)| outcome.clone());
    assert_eq!(answer(paid), Some(Outcome::Applied(Reply::SharePaid { amount: 200, completed: false })));
    // The cancellation that waited gave the share back, and answered once it arrived.
    assert_eq!(answer(cancelled), Some(Outcome::Applied(Reply::SplitCancelled { refunded: 200 })));
    assert_eq!(posted(&machines[1], &a1), 1_000);
    let close = commit(&mut machines[1], &[], vec![Command::CloseAccount { account: a1 }]);
    assert_eq!(close.outcomes[0], Outcome::Rejected(Rejection::AccountNotEmpty), "not empty: its balance");
    assert_eq!((posted(&machines[0], &a0), posted(&machines[1], &requester)), (1_000, 0));
}

#[test]
fn the_last_share_pays_a_requester_elsewhere_and_releases_the_members() {
    let (mut machines, requester, a0, a1) = split_setup(1, 1_000);
    let first = commit(&mut machines[0], &[], vec![pay("m1")]);
    settle_all(&mut machines, first);
    // The last share is here; the total goes to the requester's partition.
    let last = commit(&mut machines[0], &[], vec![pay("m0")]);
    assert!(
        matches!(&messages(&last)[..], [TransitMessage::Credit(credit)] if credit.to == requester && credit.amount == 500)
    );
    let completed = settle_all(&mut machines, last.clone());
    let done = Outcome::Applied(Reply::SharePaid { amount: 300, completed: true });
    assert!(completed.contains(&(last.pending[0].1, done)), "{completed:?}");
    assert_eq!(machines[0].split(&id("s1")).unwrap().state, SplitState::Completed);
    assert_eq!(
        (posted(&machines[1], &requester), posted(&machines[0], &a0), posted(&machines[1], &a1)),
        (500, 700, 800)
    );
    // Released: the member account elsewhere may close once empty.
    let moved = commit(
        &mut machines[1],
        &[],
        vec![Command::Withdraw(crate::command::Movement { id: id("w1"), account: a1.clone(), amount: 800 })],
    );
    assert!(moved.outcomes[0].is_applied());
    let close = commit(&mut machines[1], &[], vec![Command::CloseAccount { account: a1 }]);
    assert_eq!(close.outcomes[0], Outcome::Applied(Reply::Done));
    for machine in &machines {
        assert!(machine.transit().in_flight().is_empty() && machine.transit().open_messages().is_empty());
    }
}

#[test]
fn a_requester_that_cannot_take_the_total_gives_the_last_share_back() {
    let (mut machines, requester, _, a1) = split_setup(0, 1_000);
    let first = commit(&mut machines[0], &[], vec![pay("m0")]);
    assert!(first.outcomes[0].is_applied());
    let close = commit(&mut machines[0], &[], vec![Command::CloseAccount { account: requester }]);
    assert!(close.outcomes[0].is_applied());
    // The last share comes from elsewhere; the requester is checked when it arrived.
    let last = commit(&mut machines[0], &[], vec![pay("m1")]);
    let completed = settle_all(&mut machines, last.clone());
    assert!(completed.contains(&(last.pending[0].1, Outcome::Rejected(Rejection::AccountClosed))), "{completed:?}");
    let split = machines[0].split(&id("s1")).unwrap();
    assert_eq!((split.state, split.paid.clone(), split.escrow), (SplitState::Open, vec![true, false], 300));
    assert_eq!(posted(&machines[1], &a1), 1_000, "the share came back");
    for machine in &machines {
        assert!(machine.transit().in_flight().is_empty() && machine.transit().open_messages().is_empty());
    }
}

#[test]
fn a_payout_refused_elsewhere_comes_back_and_the_last_share_with_it() {
    let (mut machines, requester, a0, _) = split_setup(1, 1_000);
    let first = commit(&mut machines[0], &[], vec![pay("m1")]);
    settle_all(&mut machines, first);
    let close = commit(&mut machines[1], &[], vec![Command::CloseAccount { account: requester }]);
    assert!(close.outcomes[0].is_applied());
    let last = commit(&mut machines[0], &[], vec![pay("m0")]);
    assert_eq!(posted(&machines[0], &a0), 700, "taken while the total is on its way");
    let completed = settle_all(&mut machines, last.clone());
    assert!(completed.contains(&(last.pending[0].1, Outcome::Rejected(Rejection::AccountClosed))), "{completed:?}");
    let split = machines[0].split(&id("s1")).unwrap();
    assert_eq!((split.state, split.paid.clone(), split.escrow), (SplitState::Open, vec![false, true], 200));
    assert_eq!(posted(&machines[0], &a0), 1_000, "the last share came back");
    for machine in &machines {
        machine.check_invariants();
        assert!(machine.transit().in_flight().is_empty() && machine.transit().open_messages().is_empty());
    }
}

#[test]
fn a_request_checks_no_more_accounts_once_one_refuses_it() {
    use crate::command::{Principal, Submission};
    let [mut p0, mut p1] = machines();
    let here = account_on(&p0, 0, "req");
    let gone: Vec<Id> = (0..3).map(|n| account_on(&p0, 1, &format!("gone{n}"))).collect();
    open(&mut p0, &here, 0);
    let request = Command::RequestSplit(RequestSplit {
        split: id("s9"),
        requester: account_on(&p0, 0, "u-req"),
        requester_account: here.clone(),
        total: 500,
        currency: Currency::EUR,
        members: gone
            .iter()
            .enumerate()
            .map(|(n, account)| SplitMember { user: id(&format!("m{n}")), account: account.clone() })
            .collect(),
        shares: SplitShares::Equal,
        expires_at_ms: NOW + 600_000,
    });
    // An app that does not own the requester's account here: refused before any check.
    let mut output = CommitOutput::default();
    p0.commit(NOW, &[Submission::new(Principal::App(id("wallet")), request.clone())], &mut output);
    assert_eq!(output.outcomes, vec![Outcome::Rejected(Rejection::Forbidden)]);
    assert!(output.outgoing.is_empty(), "no check sent");
    // The first member's account is missing: the others are never checked.
    let sent = commit(&mut p0, &[], vec![request]);
    assert!(matches!(&messages(&sent)[..], [TransitMessage::Check(check)] if check.account == gone[0]));
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert!(done.outgoing.is_empty(), "no further check");
    assert_eq!(done.completed, vec![(sent.pending[0].1, Outcome::Rejected(Rejection::AccountNotFound))]);
    assert!(p0.split(&id("s9")).is_none());
}

/// Split `s1` of [`split_setup`] with both shares paid (the requester elsewhere holds 500).
fn completed_split() -> ([StateMachine; 2], Id, Id, Id) {
    let (mut machines, requester, a0, a1) = split_setup(1, 1_000);
    for member in ["m1", "m0"] {
        let paid = commit(&mut machines[0], &[], vec![pay(member)]);
        settle_all(&mut machines, paid);
    }
    assert_eq!(machines[0].split(&id("s1")).unwrap().state, SplitState::Completed);
    (machines, requester, a0, a1)
}

#[test]
fn a_refund_reserves_the_members_elsewhere_then_takes_the_total_from_the_requester() {
    let (mut machines, requester, a0, a1) = completed_split();
    let refund = Command::RefundSplit { split: id("s1") };
    let sent = commit(&mut machines[0], &[], vec![refund.clone()]);
    assert!(
        matches!(&messages(&sent)[..], [TransitMessage::Reserve(reserve)] if reserve.account == a1 && reserve.amount == 200)
    );
    // While it is in flight a repeat waits, and the member account elsewhere may not close.
    let repeat = commit(&mut machines[0], &[], vec![refund.clone()]);
    assert_eq!(repeat.pending.len(), 1);
    let reserved = deliver(&mut machines[1], &sent);
    assert!(machines[1].transit().payee_reserved(&a1));
    let completed = settle_all(&mut machines, reserved);
    let refunded = Outcome::Applied(Reply::Refunded { amount: 500, remaining: 0 });
    for waiter in [sent.pending[0].1, repeat.pending[0].1] {
        assert!(completed.contains(&(waiter, refunded.clone())), "{completed:?}");
    }
    assert_eq!(machines[0].split(&id("s1")).unwrap().state, SplitState::Refunded);
    assert_eq!(
        (posted(&machines[1], &requester), posted(&machines[0], &a0), posted(&machines[1], &a1)),
        (0, 1_000, 1_000)
    );
    assert!(!machines[1].transit().payee_reserved(&a1));
    for machine in &machines {
        assert!(machine.transit().in_flight().is_empty() && machine.transit().open_messages().is_empty());
        assert_eq!(machine.transit().reservations(), (0, 0));
    }
    // Refunded: a retry answers the same and moves nothing.
    assert_eq!(commit(&mut machines[0], &[], vec![refund]).outcomes[0], refunded);
}

#[test]
fn a_refund_the_requester_cannot_pay_releases_the_members_and_moves_nothing() {
    let (mut machines, requester, a0, a1) = completed_split();
    let spent = Command::Withdraw(crate::command::Movement { id: id("w1"), account: requester.clone(), amount: 400 });
    assert!(commit(&mut machines[1], &[], vec![spent]).outcomes[0].is_applied());
    let sent = commit(&mut machines[0], &[], vec![Command::RefundSplit { split: id("s1") }]);
    let completed = settle_all(&mut machines, sent.clone());
    let refused = Outcome::Rejected(Rejection::InsufficientFunds);
    assert!(completed.contains(&(sent.pending[0].1, refused)), "{completed:?}");
    assert_eq!(machines[0].split(&id("s1")).unwrap().state, SplitState::Completed);
    assert_eq!(
        (posted(&machines[1], &requester), posted(&machines[0], &a0), posted(&machines[1], &a1)),
        (100, 700, 800)
    );
    for machine in &machines {
        assert!(machine.transit().open_messages().is_empty());
        assert_eq!(machine.transit().reservations(), (0, 0), "the member elsewhere was released");
    }
}

/// `command` as app `wallet`, with `messages` first.
fn as_app(machine: &mut StateMachine, messages: &[TransitMessage], command: Command) -> CommitOutput {
    use crate::command::{Principal, Submission};
    let mut output = CommitOutput::default();
    let submission = Submission::new(Principal::App(id("wallet")), command);
    machine.commit_with_messages(NOW, messages, &[submission], &mut output);
    machine.check_invariants();
    output
}

#[test]
fn a_split_lives_on_its_requesters_partition_and_an_app_pays_from_its_account_anywhere() {
    use crate::command::{Movement, OpenAccount};
    let [mut p0, mut p1] = machines();
    let (requester, user) = (account_on(&p0, 0, "req"), account_on(&p0, 0, "u-req"));
    let (member_account, member) = (account_on(&p0, 1, "mem1"), account_on(&p0, 0, "u-mem"));
    for (machine, account) in [(&mut p0, &requester), (&mut p1, &member_account)] {
        let opening = OpenAccount { account: account.clone(), currency: Currency::EUR, overdraft_limit: 0 };
        assert!(as_app(machine, &[], Command::OpenAccount(opening)).outcomes[0].is_applied());
    }
    let deposit = Movement { id: id("d1"), account: member_account.clone(), amount: 1_000 };
    assert!(commit(&mut p1, &[], vec![Command::Deposit(deposit)]).outcomes[0].is_applied());
    let request = |split: &str| {
        Command::RequestSplit(RequestSplit {
            split: id(split),
            requester: user.clone(),
            requester_account: requester.clone(),
            total: 400,
            currency: Currency::EUR,
            members: vec![SplitMember { user: member.clone(), account: member_account.clone() }],
            shares: SplitShares::Equal,
            expires_at_ms: NOW + 600_000,
        })
    };
    // Routed to another partition (the directory's race): refused, nothing asked or made.
    let misrouted = commit(&mut p1, &[], vec![request("s2")]);
    assert_eq!(misrouted.outcomes, vec![Outcome::Rejected(Rejection::CrossPartition)]);
    assert!(misrouted.outgoing.is_empty() && p1.split(&id("s2")).is_none());

    // On the requester's partition: the member's account is checked on 1, its owner kept.
    let asked = as_app(&mut p0, &[], request("s1"));
    let requested = as_app(&mut p0, &messages(&commit(&mut p1, &messages(&asked), vec![])), request("s1"));
    let split = p0.split(&id("s1")).expect("requested");
    assert_eq!(split.member_owners, vec![Some(crate::command::Principal::App(id("wallet")))]);
    assert!(requested.completed.iter().any(|(_, outcome)| outcome.is_applied()), "{requested:?}");

    // The app pays its member's share from its account on partition 1: allowed, and moved.
    let paying = as_app(&mut p0, &[], pay_of("s1", &member));
    assert_eq!(paying.pending.len(), 1, "the share travels from partition 1");
    let mut machines = [p0, p1];
    let completed = settle_all(&mut machines, paying);
    let paid = Outcome::Applied(Reply::SharePaid { amount: 400, completed: true });
    assert!(completed.iter().any(|(_, outcome)| *outcome == paid), "{completed:?}");
    assert_eq!((posted(&machines[0], &requester), posted(&machines[1], &member_account)), (400, 600));
}

fn pay_of(split: &str, member: &Id) -> Command {
    Command::PaySplitShare(PaySplitShare { split: id(split), member: member.clone() })
}
