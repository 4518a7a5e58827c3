//! Transfers between two partitions, message by message: each step balances its partition,
//! a message applied twice acts once, a refusal refunds and frees the id.

use crate::command::{Command, Movement, OpenAccount, Outcome, Rejection, Reply, Submission, Transfer};
use crate::partition::{Outgoing, TransitMessage};
use crate::state_machine::tests::{config, id};
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::{Currency, Id};

pub(super) const NOW: u64 = 1_700_000_000_000;

/// Two partitions of one directory.
pub(super) fn machines() -> [StateMachine; 2] {
    [StateMachine::new(config().for_partition(0, 2)), StateMachine::new(config().for_partition(1, 2))]
}

/// An account id that lives on `partition` of 2.
pub(super) fn account_on(machine: &StateMachine, partition: u16, name: &str) -> Id {
    (0..)
        .map(|n| id(&format!("{name}-{n}")))
        .find(|id| machine.config().placement().of_account(id) == partition)
        .unwrap()
}

pub(super) fn commit(machine: &mut StateMachine, messages: &[TransitMessage], commands: Vec<Command>) -> CommitOutput {
    let mut output = CommitOutput::default();
    machine.commit_with_messages(NOW, messages, &Submission::admin_all(commands), &mut output);
    machine.check_invariants();
    output
}

/// Authorization `id` of user `u1` on `account`, limit 500, for a minute from [`NOW`].
pub(super) fn authorize(id_text: &str, account: &Id, nonce: u64) -> Command {
    let authorize = crate::command::Authorize {
        id: id(id_text),
        user: id("u1"),
        account: account.clone(),
        limit: 500,
        expires_at_ms: NOW + 60_000,
        nonce,
    };
    Command::Authorize(authorize)
}

pub(super) fn open(machine: &mut StateMachine, account: &Id, deposit: u64) {
    let mut commands = vec![Command::OpenAccount(OpenAccount {
        account: account.clone(),
        currency: Currency::EUR,
        overdraft_limit: 0,
    })];
    if deposit > 0 {
        commands.push(Command::Deposit(Movement {
            id: id(&format!("d-{account}")),
            account: account.clone(),
            amount: deposit,
        }));
    }
    let output = commit(machine, &[], commands);
    assert!(output.outcomes.iter().all(Outcome::is_applied));
}

/// Registers merchant `shop` with account `takings` (on `machine`, the home partition) and its
/// terminal `t1`; returns the commit (its reference messages for the other partitions).
pub(super) fn register_shop(machine: &mut StateMachine, takings: &Id) -> CommitOutput {
    use crate::command::{RegisterMerchant, RegisterTerminal};
    let registered = commit(
        machine,
        &[],
        vec![
            Command::RegisterMerchant(RegisterMerchant { merchant: id("shop"), account: takings.clone() }),
            Command::RegisterTerminal(RegisterTerminal {
                terminal: id("t1"),
                merchant: id("shop"),
                mac_key: None,
                location: None,
            }),
        ],
    );
    assert!(registered.outcomes.iter().all(Outcome::is_applied));
    registered
}

/// Coupon `c1` of `shop` (100 off, valid a day) issued on the home partition `p0` to `holder`.
pub(super) fn issue_coupon_to(p0: &mut StateMachine, holder: &Id) {
    use crate::command::{DeductionKind, DeductionRule, IssueCoupon};
    let issue = Command::IssueCoupon(IssueCoupon {
        coupon: id("c1"),
        merchant: id("shop"),
        holder: holder.clone(),
        currency: Currency::EUR,
        rule: DeductionRule { kind: DeductionKind::FixedOff { amount: 100 }, min_spend: 0 },
        adjustments: Vec::new(),
        valid_from_ms: NOW,
        valid_until_ms: NOW + 86_400_000,
        reward: None,
        nonce: 5,
    });
    assert!(commit(p0, &[], vec![issue]).outcomes[0].is_applied());
}

fn deliver_to(machine: &mut StateMachine, output: &CommitOutput) -> CommitOutput {
    commit(machine, &messages(output), vec![])
}

pub(super) fn messages(output: &CommitOutput) -> Vec<TransitMessage> {
    output.outgoing.iter().map(|Outgoing { message, .. }| message.clone()).collect()
}

pub(super) fn posted(machine: &StateMachine, account: &Id) -> i64 {
    machine.account(account).unwrap().posted
}

fn transfer(id_text: &str, from: &Id, to: &Id, amount: u64) -> Command {
    Command::Transfer(Transfer { id: id(id_text), from: from.clone(), to: to.clone(), amount, currency: Currency::EUR })
}

#[test]
fn a_credit_crosses_once_and_the_transit_drains_to_zero() {
    let [mut p0, mut p1] = machines();
    let (payer, payee) = (account_on(&p0, 0, "payer"), account_on(&p0, 1, "payee"));
    open(&mut p0, &payer, 1_000);
    open(&mut p1, &payee, 0);

    let sent = commit(&mut p0, &[], vec![transfer("t1", &payer, &payee, 300)]);
    assert_eq!(sent.pending, vec![(0, 1)], "the outcome waits for the payee's partition");
    assert_eq!((posted(&p0, &payer), p0.transit().in_flight()[&Currency::EUR]), (700, 300));
    let credit = messages(&sent);
    assert!(matches!(&credit[..], [TransitMessage::Credit(credit)] if credit.number == 1 && credit.amount == 300));

    // Delivered twice (a resend after a crash): credited once, answered twice alike.
    let first = commit(&mut p1, &credit, vec![]);
    let again = commit(&mut p1, &credit, vec![]);
    assert_eq!(posted(&p1, &payee), 300);
    assert_eq!(messages(&first), messages(&again));

    // The answer, twice too: the transfer completes once and the transit is empty.
    let done = commit(&mut p0, &messages(&first), vec![]);
    let stale = commit(&mut p0, &messages(&again), vec![]);
    assert_eq!(done.completed, vec![(1, Outcome::Applied(Reply::Done))]);
    assert!(stale.completed.is_empty());
    assert!(p0.transit().in_flight().is_empty() && p0.transit().open_messages().is_empty());
    // Across both partitions: what left p0 arrived at p1.
    assert_eq!(p0.transit().net_inflow()[&Currency::EUR] + p1.transit().net_inflow()[&Currency::EUR], 0);

    // A repeat after completion answers at once, as on one partition.
    let repeat = commit(&mut p0, &[], vec![transfer("t1", &payer, &payee, 300)]);
    assert!(repeat.pending.is_empty() && repeat.outgoing.is_empty());
    assert_eq!(repeat.outcomes, vec![Outcome::Applied(Reply::Done)]);
}

#[test]
fn a_refused_credit_is_refunded_and_its_id_may_be_used_again() {
    let [mut p0, mut p1] = machines();
    let (payer, payee) = (account_on(&p0, 0, "payer"), account_on(&p0, 1, "payee"));
    open(&mut p0, &payer, 1_000);

    let sent = commit(&mut p0, &[], vec![transfer("t1", &payer, &payee, 300)]);
    // A repeat while in flight waits on the same credit and sends nothing more.
    let repeat = commit(&mut p0, &[], vec![transfer("t1", &payer, &payee, 300)]);
    assert_eq!((repeat.pending.clone(), repeat.outgoing.len()), (vec![(0, 1)], 0));
    let refused = commit(&mut p1, &messages(&sent), vec![]);
    let done = commit(&mut p0, &messages(&refused), vec![]);
    assert_eq!(done.completed, vec![(1, Outcome::Rejected(Rejection::CounterpartyNotFound))]);
    assert_eq!(posted(&p0, &payer), 1_000, "refunded");
    assert!(p0.transit().in_flight().is_empty());

    // Once the payee exists, the same id applies.
    open(&mut p1, &payee, 0);
    let retry = commit(&mut p0, &[], vec![transfer("t1", &payer, &payee, 300)]);
    assert_eq!(retry.pending, vec![(0, 2)]);
    let credited = commit(&mut p1, &messages(&retry), vec![]);
    commit(&mut p0, &messages(&credited), vec![]);
    assert_eq!((posted(&p0, &payer), posted(&p1, &payee)), (700, 300));
}

#[test]
fn open_credits_are_sent_again_and_an_account_with_money_in_flight_stays_open() {
    let [mut p0, mut p1] = machines();
    let (payer, payee) = (account_on(&p0, 0, "payer"), account_on(&p0, 1, "payee"));
    open(&mut p0, &payer, 100);
    open(&mut p1, &payee, 0);
    commit(&mut p0, &[], vec![transfer("t1", &payer, &payee, 100)]);
    let closing = commit(&mut p0, &[], vec![Command::CloseAccount { account: payer.clone() }]);
    assert_eq!(closing.outcomes, vec![Outcome::Rejected(Rejection::AccountNotEmpty)]);
    // After a restart the engine sends every open credit again, from the state alone.
    let resend: Vec<TransitMessage> =
        p0.transit().open_messages().into_iter().map(|outgoing| outgoing.message).collect();
    let answered = commit(&mut p1, &resend, vec![]);
    commit(&mut p0, &messages(&answered), vec![]);
    assert_eq!((posted(&p0, &payer), posted(&p1, &payee)), (0, 100));
}

#[test]
fn independent_legs_of_a_batch_cross_partitions_each_with_its_own_outcome() {
    let [mut p0, mut p1] = machines();
    let (payer, payee) = (account_on(&p0, 0, "payer"), account_on(&p0, 1, "payee"));
    let missing = account_on(&p0, 1, "missing");
    open(&mut p0, &payer, 100);
    open(&mut p1, &payee, 0);
    let leg = |name: &str, from: &Id, to: &Id, amount| Transfer {
        id: id(name),
        from: from.clone(),
        to: to.clone(),
        amount,
        currency: Currency::EUR,
    };
    let batch = |atomic, transfers| Command::TransferBatch(crate::command::TransferBatch { atomic, transfers });
    // A leg whose payer lives elsewhere is applied there (`batch_legs/tests.rs`; linked
    // batches refuse it: `linked/tests.rs`): a payer missing there is its refusal.
    let other_payer = account_on(&p0, 1, "other");
    let foreign = batch(false, vec![leg("f1", &other_payer, &payer, 1)]);
    let output = commit(&mut p0, &[], vec![foreign]);
    let done = deliver_to(&mut p0, &deliver_to(&mut p1, &output));
    let batch_of = |outcomes: Vec<Outcome>| Outcome::Applied(Reply::TransferBatch(outcomes));
    let missing_payer = batch_of(vec![Outcome::Rejected(Rejection::AccountNotFound)]);
    assert_eq!(done.completed, vec![(output.pending[0].1, missing_payer)]);
    assert_eq!(posted(&p0, &payer), 100);
    // Independent legs: two cross (one refused there), one stays; the batch answers once all
    // are final, each leg with its own outcome.
    let legs = vec![leg("i1", &payer, &payee, 30), leg("i2", &payer, &missing, 20), leg("i3", &payer, &payer, 5)];
    let sent = commit(&mut p0, &[], vec![batch(false, legs)]);
    assert_eq!(sent.pending.len(), 1, "the batch waits for its crossing legs");
    assert_eq!(posted(&p0, &payer), 50, "both crossing legs debited");
    let answered = deliver_to(&mut p1, &sent);
    let done = deliver_to(&mut p0, &answered);
    let expected = batch_of(vec![
        Outcome::Applied(Reply::Done),
        Outcome::Rejected(Rejection::CounterpartyNotFound),
        Outcome::Rejected(Rejection::SameAccount),
    ]);
    assert!(done.completed.contains(&(sent.pending[0].1, expected)), "{:?}", done.completed);
    assert_eq!((posted(&p0, &payer), posted(&p1, &payee)), (70, 30));
    assert!(p0.transit().in_flight().is_empty());
}
