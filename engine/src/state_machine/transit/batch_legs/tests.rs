//! Legs of independent batches whose payer lives on another partition, message by message:
//! applied there once, their ids remembered there, paid there or by a credit; a tenant's batch
//! checks who owns each such payer first.

use super::super::tests::{NOW, account_on, commit, machines, messages, open, posted};
use crate::command::{Command, OpenAccount, Outcome, Principal, Rejection, Reply, Submission, Transfer, TransferBatch};
use crate::partition::TransitMessage;
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::{Currency, Id};

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn leg(name: &str, from: &Id, to: &Id, amount: u64) -> Transfer {
    Transfer { id: id(name), from: from.clone(), to: to.clone(), amount, currency: Currency::EUR }
}

fn independent(transfers: Vec<Transfer>) -> Command {
    Command::TransferBatch(TransferBatch { atomic: false, transfers })
}

fn deliver(machine: &mut StateMachine, output: &CommitOutput) -> CommitOutput {
    commit(machine, &messages(output), vec![])
}

fn commit_as(machine: &mut StateMachine, principal: &Principal, command: Command) -> CommitOutput {
    let mut output = CommitOutput::default();
    machine.commit_with_messages(NOW, &[], &[Submission::new(principal.clone(), command)], &mut output);
    machine.check_invariants();
    output
}

/// Delivers `output`'s messages back and forth between the two machines (`output` from the
/// first) until none is left; what every step completed, on either.
fn settle(machines: (&mut StateMachine, &mut StateMachine), output: CommitOutput) -> Vec<(u64, Outcome)> {
    let (mut here, mut there) = machines;
    let mut completed = output.completed.clone();
    let mut step = output;
    while !step.outgoing.is_empty() {
        step = deliver(there, &step);
        completed.extend(step.completed.clone());
        std::mem::swap(&mut here, &mut there);
    }
    completed
}

#[test]
fn legs_whose_payer_lives_elsewhere_are_applied_there_once() {
    let [mut p0, mut p1] = machines();
    let (payer, near, here) = (account_on(&p0, 1, "payer"), account_on(&p0, 1, "near"), account_on(&p0, 0, "here"));
    let missing = account_on(&p0, 1, "missing");
    open(&mut p1, &payer, 100);
    open(&mut p1, &near, 0);
    open(&mut p0, &here, 0);
    let legs = vec![leg("l1", &payer, &near, 30), leg("l2", &payer, &here, 20), leg("l3", &payer, &missing, 10)];
    let sent = commit(&mut p0, &[], vec![independent(legs)]);
    assert_eq!(sent.pending.len(), 1, "the batch waits for its legs");
    // One leg at a time: l1 applied there, l2 paid on to p0, l3 refused there.
    assert!(matches!(&messages(&sent)[..], [TransitMessage::Move(m)] if m.to == near));
    let first = deliver(&mut p1, &sent);
    assert!(deliver(&mut p1, &sent).outgoing == first.outgoing, "a copy is answered again, applied once");
    assert_eq!((posted(&p1, &payer), posted(&p1, &near)), (70, 30));
    let completed = settle((&mut p1, &mut p0), first);
    let expected = Outcome::Applied(Reply::TransferBatch(vec![
        Outcome::Applied(Reply::Done),
        Outcome::Applied(Reply::Done),
        Outcome::Rejected(Rejection::CounterpartyNotFound),
    ]));
    assert!(completed.contains(&(sent.pending[0].1, expected)), "{completed:?}");
    assert_eq!((posted(&p1, &payer), posted(&p0, &here)), (50, 20));
    // Their ids are remembered where the payer lives: a transfer of one there is a repeat.
    let repeat = commit(&mut p1, &[], vec![Command::Transfer(leg("l2", &payer, &here, 20))]);
    assert_eq!(repeat.outcomes, vec![Outcome::Applied(Reply::Done)]);
    assert!(repeat.outgoing.is_empty() && posted(&p1, &payer) == 50);
    assert!(p0.transit().in_flight().is_empty() && p1.transit().in_flight().is_empty());
    assert!(p0.transit().open_messages().is_empty() && p1.transit().open_messages().is_empty());
}

#[test]
fn a_leg_refused_where_its_payee_lives_is_refunded_and_its_id_forgotten() {
    let [mut p0, mut p1] = machines();
    let (payer, closed) = (account_on(&p0, 1, "payer"), account_on(&p0, 0, "closed"));
    open(&mut p1, &payer, 100);
    open(&mut p0, &closed, 0);
    commit(&mut p0, &[], vec![Command::CloseAccount { account: closed.clone() }]);
    let sent = commit(&mut p0, &[], vec![independent(vec![leg("l1", &payer, &closed, 40)])]);
    // A transfer of the leg's id sent to the payer's partition meanwhile waits for it.
    let debited = deliver(&mut p1, &sent);
    let retry = commit(&mut p1, &[], vec![Command::Transfer(leg("l1", &payer, &closed, 40))]);
    assert_eq!(retry.pending.len(), 1, "a transfer of the id in flight waits for it");
    assert_eq!(posted(&p1, &payer), 60);
    let refused = deliver(&mut p0, &debited);
    let answered = deliver(&mut p1, &refused);
    assert_eq!(posted(&p1, &payer), 100, "refunded");
    let refusal = Outcome::Rejected(Rejection::AccountClosed);
    assert!(answered.completed.contains(&(retry.pending[0].1, refusal.clone())), "{:?}", answered.completed);
    let done = deliver(&mut p0, &answered);
    let expected = Outcome::Applied(Reply::TransferBatch(vec![refusal]));
    assert_eq!(done.completed, vec![(sent.pending[0].1, expected)]);
    // Forgotten, as a refused transfer's id is: the id pays another account now.
    let open_payee = Command::OpenAccount(OpenAccount {
        account: account_on(&p0, 1, "open"),
        currency: Currency::EUR,
        overdraft_limit: 0,
    });
    commit(&mut p1, &[], vec![open_payee]);
    let again = commit(&mut p1, &[], vec![Command::Transfer(leg("l1", &payer, &account_on(&p0, 1, "open"), 40))]);
    assert_eq!(again.outcomes, vec![Outcome::Applied(Reply::Done)]);
}

#[test]
fn a_tenants_batch_checks_who_owns_each_payer_elsewhere_first() {
    let [mut p0, mut p1] = machines();
    let (app, other) = (Principal::App(id("app")), Principal::App(id("other")));
    let (mine_here, mine_there) = (account_on(&p0, 0, "mine"), account_on(&p0, 1, "mine"));
    for (machine, account) in [(&mut p0, &mine_here), (&mut p1, &mine_there)] {
        let open =
            Command::OpenAccount(OpenAccount { account: account.clone(), currency: Currency::EUR, overdraft_limit: 0 });
        assert!(commit_as(machine, &app, open).outcomes[0].is_applied());
        let deposit =
            crate::command::Movement { id: id(&format!("d-{account}")), account: account.clone(), amount: 100 };
        assert!(commit(machine, &[], vec![Command::Deposit(deposit)]).outcomes[0].is_applied());
    }
    let legs = vec![leg("a1", &mine_here, &mine_there, 10), leg("a2", &mine_there, &mine_here, 25)];
    // Another tenant: a payer here it does not own refuses the batch at once, no message.
    let refused = commit_as(&mut p0, &other, independent(legs.clone()));
    assert_eq!(refused.outcomes, vec![Outcome::Rejected(Rejection::Forbidden)]);
    assert!(refused.outgoing.is_empty());
    // Only a payer elsewhere: checked there, then refused; nothing moves anywhere.
    let checking = commit_as(&mut p0, &other, independent(vec![legs[1].clone()]));
    assert!(matches!(&messages(&checking)[..], [TransitMessage::Check(_)]));
    let done = deliver(&mut p0, &deliver(&mut p1, &checking));
    assert_eq!(done.completed, vec![(checking.pending[0].1, Outcome::Rejected(Rejection::Forbidden))]);
    assert_eq!((posted(&p0, &mine_here), posted(&p1, &mine_there)), (100, 100));
    // Its owner: the payer elsewhere is checked, then both legs apply.
    let checking = commit_as(&mut p0, &app, independent(legs));
    assert!(matches!(&messages(&checking)[..], [TransitMessage::Check(_)]));
    let checked = deliver(&mut p1, &checking);
    let sent = deliver(&mut p0, &checked);
    let completed = settle((&mut p0, &mut p1), sent);
    let expected = Outcome::Applied(Reply::TransferBatch(vec![Outcome::Applied(Reply::Done); 2]));
    assert!(completed.contains(&(checking.pending[0].1, expected)), "{completed:?}");
    assert_eq!((posted(&p0, &mine_here), posted(&p1, &mine_there)), (115, 85));
}
