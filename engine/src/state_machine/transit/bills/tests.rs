//! Bills whose account lives on another partition, message by message: the opening checks the
//! account there; the charge moves the money there and back exactly once; a refusal leaves the
//! bill submitted and moves nothing; commands naming the bill wait for its money; a refund pays
//! the account back there.

use super::super::tests::{NOW, account_on, commit, issue_coupon_to, machines, messages, open, posted, register_shop};
use crate::command::{AddBillItem, Command, ConfirmBill, OpenBill, Outcome, Refund, Rejection, Reply, SubmitBill};
use crate::partition::TransitMessage;
use crate::state_machine::bills::BillState;
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::Id;

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

fn deliver(machine: &mut StateMachine, output: &CommitOutput) -> CommitOutput {
    commit(machine, &messages(output), vec![])
}

fn open_bill(account: &Id) -> Command {
    open_bill_for(&id("u1"), account)
}

fn open_bill_for(user: &Id, account: &Id) -> Command {
    Command::OpenBill(OpenBill {
        bill: id("b1"),
        user: user.clone(),
        account: account.clone(),
        merchant: id("shop"),
        opens_at_ms: NOW,
        closes_at_ms: NOW + 600_000,
    })
}

fn confirm(challenge: &str) -> Command {
    Command::ConfirmBill(ConfirmBill { bill: id("b1"), challenge: challenge.into(), coupon: None, location: None })
}

fn refund(refund: &str, amount: u64) -> Command {
    Command::RefundBill(Refund { of: id("b1"), refund: id(refund), amount })
}

/// Home partition 0 with merchant `shop` (account on 0, terminal `t1`) and a payer account on
/// partition 1 holding `deposit`; bill `b1` on it (checked there), one item of 400, submitted.
/// Returns the machines, the payer and merchant accounts, and the challenge.
fn bill_setup(deposit: u64) -> ([StateMachine; 2], Id, Id, String) {
    bill_setup_for(&id("u1"), deposit)
}

/// [`bill_setup`] for a bill of `user`.
fn bill_setup_for(user: &Id, deposit: u64) -> ([StateMachine; 2], Id, Id, String) {
    let [mut p0, mut p1] = machines();
    let (payer, takings) = (account_on(&p0, 1, "payer"), account_on(&p0, 0, "takings"));
    open(&mut p1, &payer, deposit);
    open(&mut p0, &takings, 0);
    register_shop(&mut p0, &takings);
    let sent = commit(&mut p0, &[], vec![open_bill_for(user, &payer)]);
    assert_eq!(sent.pending, vec![(0, 1)], "the opening waits for its account's check");
    assert!(p0.bill(&id("b1")).is_none());
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert_eq!(done.completed, vec![(1, Outcome::Applied(Reply::Done))]);
    let item = Command::AddBillItem(AddBillItem {
        bill: id("b1"),
        terminal: id("t1"),
        item_ref: "tea".into(),
        quantity: 1,
        unit_amount: 400,
    });
    let submitted = commit(&mut p0, &[], vec![item, Command::SubmitBill(SubmitBill { bill: id("b1"), nonce: 3 })]);
    let Outcome::Applied(Reply::BillSubmitted { total: 400, challenge }) = &submitted.outcomes[1] else {
        panic!("{:?}", submitted.outcomes)
    };
    ([p0, p1], payer, takings, challenge.clone())
}

#[test]
fn opening_a_bill_checks_its_account_where_it_lives() {
    let [mut p0, mut p1] = machines();
    let missing = account_on(&p0, 1, "missing");
    let sent = commit(&mut p0, &[], vec![open_bill(&missing)]);
    let mut other = open_bill(&missing);
    let Command::OpenBill(body) = &mut other else { unreachable!() };
    body.closes_at_ms += 1;
    // A repeat waits for the same check; another opening under the id is refused.
    let repeat = commit(&mut p0, &[], vec![open_bill(&missing), other]);
    assert_eq!(repeat.pending, vec![(0, 1)]);
    assert_eq!(repeat.outcomes[1], Outcome::Rejected(Rejection::AlreadyExists));
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert_eq!(done.completed, vec![(1, Outcome::Rejected(Rejection::AccountNotFound))]);
    assert!(p0.bill(&id("b1")).is_none() && p0.transit().open_messages().is_empty());
}

#[test]
fn a_bill_is_charged_where_its_account_lives_exactly_once() {
    let ([mut p0, mut p1], payer, takings, challenge) = bill_setup(1_000);
    let sent = commit(&mut p0, &[], vec![confirm(&challenge)]);
    let number = sent.pending[0].1;
    assert!(
        matches!(&messages(&sent)[..], [TransitMessage::Move(payment)] if payment.from == payer && payment.amount == 400)
    );
    // A repeat and a cancellation wait for the charge, each on a number of its own.
    let waiting = commit(&mut p0, &[], vec![confirm(&challenge), Command::CancelBill { bill: id("b1") }]);
    assert_eq!(waiting.pending.len(), 2);
    assert!(waiting.pending.iter().all(|(_, waits_on)| *waits_on != number));
    // No tick expires a bill whose money is in flight.
    assert!(matches!(p0.bill(&id("b1")).unwrap().state, BillState::Submitted { .. }));

    let debited = deliver(&mut p1, &sent);
    assert!(deliver(&mut p1, &sent).outgoing.is_empty(), "a copy of a move in flight waits");
    assert_eq!(posted(&p1, &payer), 600);
    let credited = deliver(&mut p0, &debited);
    assert_eq!(posted(&p0, &takings), 400);
    let done = deliver(&mut p0, &deliver(&mut p1, &credited));
    let paid = Outcome::Applied(Reply::BillPaid { charged: 400, discount: 0 });
    let (repeat, cancel) = (waiting.pending[0].1, waiting.pending[1].1);
    assert_eq!(
        done.completed,
        vec![(repeat, paid.clone()), (cancel, Outcome::Rejected(Rejection::BillNotOpen)), (number, paid)]
    );
    assert_eq!(p0.bill(&id("b1")).unwrap().state, BillState::Paid { charged: 400, discount: 0 });
    assert!(p0.transit().open_messages().is_empty() && p1.transit().open_messages().is_empty());
}

#[test]
fn a_refused_charge_leaves_the_bill_submitted_and_moves_nothing() {
    let ([mut p0, mut p1], payer, takings, challenge) = bill_setup(100);
    let sent = commit(&mut p0, &[], vec![confirm(&challenge)]);
    let waiting = commit(&mut p0, &[], vec![Command::CancelBill { bill: id("b1") }]);
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert_eq!(
        done.completed,
        vec![
            (waiting.pending[0].1, Outcome::Applied(Reply::Done)),
            (sent.pending[0].1, Outcome::Rejected(Rejection::InsufficientFunds))
        ]
    );
    // The cancellation that waited found the bill submitted again.
    assert_eq!(p0.bill(&id("b1")).unwrap().state, BillState::Cancelled);
    assert_eq!((posted(&p1, &payer), posted(&p0, &takings)), (100, 0));
}

#[test]
fn a_refused_charge_can_be_confirmed_again() {
    let ([mut p0, mut p1], payer, takings, challenge) = bill_setup(100);
    let sent = commit(&mut p0, &[], vec![confirm(&challenge)]);
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert_eq!(done.completed[0].1, Outcome::Rejected(Rejection::InsufficientFunds));
    let topped = commit(
        &mut p1,
        &[],
        vec![Command::Deposit(crate::command::Movement { id: id("top"), account: payer.clone(), amount: 900 })],
    );
    assert!(topped.outcomes[0].is_applied());
    let sent = commit(&mut p0, &[], vec![confirm(&challenge)]);
    let credited = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert!(credited.completed.is_empty(), "the answer comes after the merchant's credit");
    let done = deliver(&mut p0, &deliver(&mut p1, &credited));
    assert_eq!(
        done.completed,
        vec![(sent.pending[0].1, Outcome::Applied(Reply::BillPaid { charged: 400, discount: 0 }))]
    );
    assert_eq!((posted(&p1, &payer), posted(&p0, &takings)), (600, 400));
}

#[test]
fn a_refund_pays_the_account_back_where_it_lives() {
    let ([mut p0, mut p1], payer, takings, challenge) = bill_setup(1_000);
    let sent = commit(&mut p0, &[], vec![confirm(&challenge)]);
    let credited = deliver(&mut p0, &deliver(&mut p1, &sent));
    deliver(&mut p0, &deliver(&mut p1, &credited));
    // The refund's credit is in flight: a repeat and a second refund wait for it.
    let sent = commit(&mut p0, &[], vec![refund("r1", 150)]);
    assert_eq!(posted(&p0, &takings), 250);
    let waiting = commit(&mut p0, &[], vec![refund("r1", 150), refund("r2", 300)]);
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    let first = Outcome::Applied(Reply::Refunded { amount: 150, remaining: 250 });
    assert_eq!(
        done.completed,
        vec![
            (waiting.pending[0].1, first.clone()),
            (waiting.pending[1].1, Outcome::Rejected(Rejection::RefundExceedsCharge)),
            (sent.pending[0].1, first),
        ]
    );
    assert_eq!(posted(&p1, &payer), 750);
    assert_eq!(p0.bill(&id("b1")).unwrap().refunds.len(), 1);
}

#[test]
fn at_most_a_bounded_number_of_commands_wait_for_a_bill() {
    let ([mut p0, _p1], _, _, challenge) = bill_setup(1_000);
    let sent = commit(&mut p0, &[], vec![confirm(&challenge)]);
    assert_eq!(sent.pending.len(), 1);
    let most = crate::constants::STEP_WAITING_MAX;
    let mut commands: Vec<Command> = (0..most).map(|_| confirm(&challenge)).collect();
    commands.extend([confirm(&challenge), refund("r1", 1)]);
    let waiting = commit(&mut p0, &[], commands);
    assert_eq!(waiting.pending.len(), most);
    // Past the bound, refused as if the charge had been approved.
    let refused = &waiting.outcomes[most..];
    assert_eq!(refused, [Outcome::Rejected(Rejection::BillNotOpen), Outcome::Rejected(Rejection::NotReversible)]);
}

fn issue_coupon(p0: &mut StateMachine, holder: &str) {
    issue_coupon_to(p0, &id(holder));
}

fn confirm_with_coupon(challenge: &str) -> Command {
    Command::ConfirmBill(ConfirmBill {
        bill: id("b1"),
        challenge: challenge.into(),
        coupon: Some(id("c1")),
        location: None,
    })
}

#[test]
fn a_coupon_is_kept_for_a_charge_in_flight_and_redeemed_with_it() {
    use crate::command::ShareCoupon;
    use crate::state_machine::coupons::CouponState;
    let ([mut p0, mut p1], payer, takings, challenge) = bill_setup(1_000);
    issue_coupon(&mut p0, "u1");
    let sent = commit(&mut p0, &[], vec![confirm_with_coupon(&challenge)]);
    assert!(matches!(&messages(&sent)[..], [TransitMessage::Move(payment)] if payment.amount == 300));
    // Sharing the coupon waits for the charge: it decides once the coupon is redeemed.
    let share = commit(&mut p0, &[], vec![Command::ShareCoupon(ShareCoupon { coupon: id("c1"), user: id("u1") })]);
    assert_eq!(share.pending.len(), 1);
    assert_eq!(p0.coupon(&id("c1")).unwrap().state, CouponState::Available);
    let credited = deliver(&mut p0, &deliver(&mut p1, &sent));
    let done = deliver(&mut p0, &deliver(&mut p1, &credited));
    assert_eq!(
        done.completed,
        vec![
            (share.pending[0].1, Outcome::Rejected(Rejection::CouponRedeemed)),
            (sent.pending[0].1, Outcome::Applied(Reply::BillPaid { charged: 300, discount: 100 })),
        ]
    );
    assert_eq!(p0.coupon(&id("c1")).unwrap().state, CouponState::Redeemed);
    assert_eq!((posted(&p1, &payer), posted(&p0, &takings)), (700, 300));
}

#[test]
fn a_refused_charge_leaves_its_coupon_available() {
    use crate::state_machine::coupons::CouponState;
    let ([mut p0, mut p1], payer, _, challenge) = bill_setup(100);
    issue_coupon(&mut p0, "u1");
    let sent = commit(&mut p0, &[], vec![confirm_with_coupon(&challenge)]);
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert_eq!(done.completed, vec![(sent.pending[0].1, Outcome::Rejected(Rejection::InsufficientFunds))]);
    assert_eq!(p0.coupon(&id("c1")).unwrap().state, CouponState::Available);
    assert!(!p0.transit().redeeming(&id("c1")));
    assert_eq!(posted(&p1, &payer), 100);
}

/// Delivers every message of `first` (from partition `from`) and of what it leads to, in order,
/// between `machines`; returns what completed, with the partition it completed on.
fn deliver_all(machines: &mut [StateMachine; 2], from: u16, first: CommitOutput) -> Vec<(u16, u64, Outcome)> {
    let mut queue = std::collections::VecDeque::from([(from, first)]);
    let mut completed = Vec::new();
    while let Some((source, output)) = queue.pop_front() {
        completed.extend(output.completed.iter().map(|(number, outcome)| (source, *number, outcome.clone())));
        if !output.outgoing.is_empty() {
            let destination = 1 - source;
            queue.push_back((destination, deliver(&mut machines[usize::from(destination)], &output)));
        }
        assert!(queue.len() < 64, "the messages settle");
    }
    completed
}

#[test]
fn a_share_that_waited_for_its_users_claim_then_for_a_charge_is_answered() {
    use crate::command::{Principal, ShareCoupon, Submission};
    let [mut p0, mut p1] = machines();
    let user = (0..).map(|n| id(&format!("u-{n}"))).find(|user| p0.config().placement().of_user(user) == 1).unwrap();
    // The bill lives with its user on partition 1, its coupon on the home partition.
    let (payer, takings) = (account_on(&p0, 1, "payer"), account_on(&p0, 0, "takings"));
    open(&mut p1, &payer, 1_000);
    open(&mut p0, &takings, 0);
    let registered = register_shop(&mut p0, &takings);
    deliver(&mut p1, &registered);
    issue_coupon_to(&mut p0, &user);
    let item =
        AddBillItem { bill: id("b1"), terminal: id("t1"), item_ref: "tea".into(), quantity: 1, unit_amount: 400 };
    // Its opening checks the merchant's account on the home partition first.
    let opening = commit(&mut p1, &[], vec![open_bill_for(&user, &payer)]);
    let opened = deliver(&mut p1, &deliver(&mut p0, &opening));
    assert_eq!(opened.completed, [(1, Outcome::Applied(Reply::Done))]);
    let added = commit(&mut p1, &[], vec![Command::AddBillItem(item)]);
    assert!(added.outcomes[0].is_applied(), "{:?}", added.outcomes);
    let submitted = commit(&mut p1, &[], vec![Command::SubmitBill(SubmitBill { bill: id("b1"), nonce: 3 })]);
    let Outcome::Applied(Reply::BillSubmitted { challenge, .. }) = &submitted.outcomes[0] else { panic!() };
    // The confirmation asks the home partition for its coupon's price: the coupon is kept there.
    let charging = commit(&mut p1, &[], vec![confirm_with_coupon(challenge)]);
    let [(_, confirmation)] = charging.pending[..] else { panic!("{:?}", charging.pending) };
    let quoted = deliver(&mut p0, &charging);

    // The user is the app's on its own partition (a command applied there claimed it).
    let add = Command::AddContact(crate::command::AddContact { user: user.clone(), contact: id("friend") });
    let mut claimed_there = CommitOutput::default();
    p1.commit_with_messages(NOW, &[], &[Submission::new(Principal::App(id("app")), add)], &mut claimed_there);
    assert!(claimed_there.outcomes[0].is_applied());
    // The app shares the coupon on the home partition, which has not heard the claim yet: the
    // user's claim is asked there first.
    let share = Command::ShareCoupon(ShareCoupon { coupon: id("c1"), user: user.clone() });
    let mut asked = CommitOutput::default();
    p0.commit_with_messages(NOW, &[], &[Submission::new(Principal::App(id("app")), share)], &mut asked);
    let [(_, caller)] = asked.pending[..] else { panic!("{:?}", asked.pending) };
    assert!(matches!(&messages(&asked)[..], [TransitMessage::Claim(_)]));
    // Answered (final): the share applies again and now waits for the kept coupon's payment.
    let mut machines = [p0, p1];
    let claimed = deliver_all(&mut machines, 0, asked);
    assert!(claimed.iter().all(|(_, number, _)| *number != caller), "the share waits for the charge");
    // The charge completes: the share is decided, and answered on the number its caller waits on.
    let done = deliver_all(&mut machines, 0, quoted);
    assert!(done.contains(&(0, caller, Outcome::Rejected(Rejection::CouponRedeemed))), "{done:?}");
    let paid = Outcome::Applied(Reply::BillPaid { charged: 300, discount: 100 });
    assert!(done.contains(&(1, confirmation, paid)), "{done:?}");
    deliver_all(&mut machines, 1, claimed_there);
    let [p0, p1] = &machines;
    assert!(p0.transit().open_messages().is_empty() && p1.transit().open_messages().is_empty());
    assert_eq!((posted(p1, &payer), posted(p0, &takings)), (700, 300));
}
