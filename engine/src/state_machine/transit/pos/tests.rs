//! POS sales whose payer lives on another partition, message by message: an authorization
//! checks its account there; a sale moves the money there and back, exactly once; a refusal
//! leaves the authorization usable and moves nothing; a reversal pays the payer back there.

use super::super::tests::{NOW, account_on, commit, machines, messages, open, posted, register_shop};
use crate::command::{Authorize, Command, Outcome, Rejection, Reply};
use crate::partition::TransitMessage;
use crate::state_machine::authorizations::AuthorizationState;
use crate::state_machine::tests::settle;
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::Id;

fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

/// Delivers `output`'s messages to `machine`; returns what that commit produced.
fn deliver(machine: &mut StateMachine, output: &CommitOutput) -> CommitOutput {
    commit(machine, &messages(output), vec![])
}

/// Home partition 0 with merchant `shop` (account on 0, terminal `t1`), and a payer account on
/// partition 1 holding `deposit`; an authorization `a1` of user `u1` on it, limit 500, checked
/// there. Returns the machines, the payer and merchant accounts, and the code.
fn sale_setup(deposit: u64) -> ([StateMachine; 2], Id, Id, String) {
    let [mut p0, mut p1] = machines();
    let (payer, takings) = (account_on(&p0, 1, "payer"), account_on(&p0, 0, "takings"));
    open(&mut p1, &payer, deposit);
    open(&mut p0, &takings, 0);
    register_shop(&mut p0, &takings);
    let authorize = Command::Authorize(Authorize {
        id: id("a1"),
        user: id("u1"),
        account: payer.clone(),
        limit: 500,
        expires_at_ms: NOW + 60_000,
        nonce: 7,
    });
    let sent = commit(&mut p0, &[], vec![authorize]);
    assert_eq!(sent.pending, vec![(0, 1)], "the authorization waits for its account's check");
    assert!(p0.authorization(&id("a1")).is_none());
    let answer = deliver(&mut p1, &sent);
    let done = deliver(&mut p0, &answer);
    let [(1, Outcome::Applied(Reply::Authorized { code, .. }))] = &done.completed[..] else {
        panic!("authorized once checked: {:?}", done.completed)
    };
    (([p0, p1]), payer, takings, code.clone())
}

#[test]
fn an_authorization_checks_its_account_where_it_lives() {
    let [mut p0, mut p1] = machines();
    let missing = account_on(&p0, 1, "missing");
    let authorize = |account: &Id, limit| {
        Command::Authorize(Authorize {
            id: id("a1"),
            user: id("u1"),
            account: account.clone(),
            limit,
            expires_at_ms: NOW + 60_000,
            nonce: 1,
        })
    };
    // A missing account is refused in its turn: an invalid limit is refused first, as on one
    // partition, though the check came back first.
    let sent = commit(&mut p0, &[], vec![authorize(&missing, 0)]);
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert_eq!(done.completed, vec![(1, Outcome::Rejected(Rejection::InvalidAmount))]);
    let sent = commit(&mut p0, &[], vec![authorize(&missing, 10)]);
    // A repeat waits for the same check; another limit under the id is refused.
    let repeat = commit(&mut p0, &[], vec![authorize(&missing, 10), authorize(&missing, 11)]);
    assert_eq!(repeat.pending, vec![(0, 2)]);
    assert_eq!(repeat.outcomes[1], Outcome::Rejected(Rejection::IdReused));
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert_eq!(done.completed, vec![(2, Outcome::Rejected(Rejection::AccountNotFound))]);
    assert!(p0.authorization(&id("a1")).is_none() && p0.transit().open_messages().is_empty());
}

#[test]
fn a_sale_moves_its_money_where_the_payer_lives_exactly_once() {
    let ([mut p0, mut p1], payer, takings, code) = sale_setup(1_000);
    let sent = commit(&mut p0, &[], vec![settle("s1", &code, 300)]);
    assert_eq!(sent.pending.len(), 1, "the sale waits for its money");
    assert!(
        matches!(&messages(&sent)[..], [TransitMessage::Move(payment)] if payment.from == payer && payment.amount == 300)
    );
    assert!(p0.settlement_summary(&id("s1")).is_none(), "recorded only when final");
    // The code is used by the sale in flight: a second sale with it is refused; a repeat waits.
    let again = commit(&mut p0, &[], vec![settle("s2", &code, 10), settle("s1", &code, 300)]);
    assert_eq!(again.outcomes[0], Outcome::Rejected(Rejection::CodeAlreadyUsed));
    assert_eq!(again.pending, vec![(1, sent.pending[0].1)]);

    // The payer's partition debits once (a copy of the move is ignored) and pays on.
    let debited = deliver(&mut p1, &sent);
    assert!(deliver(&mut p1, &sent).outgoing.is_empty(), "a copy of a move in flight waits");
    assert_eq!(posted(&p1, &payer), 700);
    assert!(matches!(&messages(&debited)[..], [TransitMessage::Credit(credit)] if credit.to == takings));
    let credited = deliver(&mut p0, &debited);
    assert_eq!(posted(&p0, &takings), 300);
    assert!(deliver(&mut p0, &debited).outgoing.len() == 1, "a copy of the credit is answered again");
    assert_eq!(posted(&p0, &takings), 300, "and credits nothing");
    let answered = deliver(&mut p1, &credited);
    let done = deliver(&mut p0, &answered);
    let [(_, Outcome::Applied(Reply::Settled { charged: 300, discount: 0, .. }))] = &done.completed[..] else {
        panic!("approved: {:?}", done.completed)
    };
    assert!(deliver(&mut p0, &answered).completed.is_empty(), "a stale answer is ignored");
    // The repeat now answers what the sale answered; the payer's partition answers a copy of
    // the move as it did, moving nothing.
    let repeat = commit(&mut p0, &[], vec![settle("s1", &code, 300)]);
    assert_eq!(repeat.outcomes[0], done.completed[0].1);
    assert_eq!(messages(&deliver(&mut p1, &sent)), messages(&answered));
    assert_eq!((posted(&p1, &payer), posted(&p0, &takings)), (700, 300));
    assert!(p0.transit().open_messages().is_empty() && p1.transit().open_messages().is_empty());
    assert!(p0.transit().in_flight().is_empty() && p1.transit().in_flight().is_empty());

    // A reversal pays the payer back where it lives.
    let reversal = commit(&mut p0, &[], vec![Command::ReversePos { settlement: id("s1") }]);
    assert_eq!(posted(&p0, &takings), 0);
    let done = deliver(&mut p0, &deliver(&mut p1, &reversal));
    assert_eq!(done.completed, vec![(reversal.pending[0].1, Outcome::Applied(Reply::Done))]);
    assert_eq!(posted(&p1, &payer), 1_000);
    assert!(p0.settlement_summary(&id("s1")).unwrap().reversed);
}

#[test]
fn a_refused_sale_moves_nothing_and_leaves_its_code_usable() {
    let ([mut p0, mut p1], payer, takings, code) = sale_setup(100);
    let sent = commit(&mut p0, &[], vec![settle("s1", &code, 300)]);
    let done = deliver(&mut p0, &deliver(&mut p1, &sent));
    assert_eq!(done.completed, vec![(sent.pending[0].1, Outcome::Rejected(Rejection::InsufficientFunds))]);
    assert_eq!(p0.authorization(&id("a1")).unwrap().state, AuthorizationState::Active);
    assert_eq!(p0.settlement_summary(&id("s1")).unwrap().outcome, Outcome::Rejected(Rejection::InsufficientFunds));
    assert_eq!((posted(&p1, &payer), posted(&p0, &takings)), (100, 0));

    // Refused by the merchant's side (its account closed): the payer is refunded there.
    commit(&mut p0, &[], vec![Command::CloseAccount { account: takings.clone() }]);
    let sent = commit(&mut p0, &[], vec![settle("s2", &code, 60)]);
    let debited = deliver(&mut p1, &sent);
    assert_eq!(posted(&p1, &payer), 40);
    let refused = deliver(&mut p0, &debited);
    let done = deliver(&mut p0, &deliver(&mut p1, &refused));
    assert_eq!(done.completed, vec![(sent.pending[0].1, Outcome::Rejected(Rejection::AccountClosed))]);
    assert_eq!(posted(&p1, &payer), 100, "refunded");
    assert_eq!(p0.authorization(&id("a1")).unwrap().state, AuthorizationState::Active);
    assert!(p1.transit().in_flight().is_empty() && p1.transit().open_messages().is_empty());
}

#[test]
fn a_reversal_sent_while_its_sale_is_in_flight_reverses_it_once_final() {
    let ([mut p0, mut p1], payer, takings, code) = sale_setup(1_000);
    let sent = commit(&mut p0, &[], vec![settle("s1", &code, 300)]);
    let sale_number = sent.pending[0].1;
    // An ISO 8583 0400 after a timeout: it waits on a number of its own, and so does a repeat.
    let reverse = || Command::ReversePos { settlement: id("s1") };
    let waiting = commit(&mut p0, &[], vec![reverse(), reverse()]);
    let [(0, reversal_number), (1, repeat_number)] = waiting.pending[..] else { panic!("{:?}", waiting.pending) };
    assert!(reversal_number != sale_number && repeat_number == reversal_number);
    assert!(waiting.outgoing.is_empty(), "nothing moves before the sale is final");

    let credited = deliver(&mut p0, &deliver(&mut p1, &sent));
    let done = deliver(&mut p0, &deliver(&mut p1, &credited));
    // The sale is answered approved; the reversal then applies and sends the money back.
    assert!(matches!(&done.completed[..], [(n, Outcome::Applied(Reply::Settled { .. }))] if *n == sale_number));
    assert_eq!(posted(&p0, &takings), 0, "the merchant's side is debited at once");
    let back = deliver(&mut p0, &deliver(&mut p1, &done));
    assert_eq!(back.completed.len(), 2, "the credit's number and the waiting reversal's: {:?}", back.completed);
    assert!(
        back.completed.iter().any(|(n, outcome)| *n == reversal_number && *outcome == Outcome::Applied(Reply::Done))
    );
    assert_eq!((posted(&p1, &payer), posted(&p0, &takings)), (1_000, 0));
    assert!(p0.settlement_summary(&id("s1")).unwrap().reversed);
    assert!(p0.transit().open_messages().is_empty() && p1.transit().open_messages().is_empty());
}

#[test]
fn a_sale_redeems_its_coupon_once_its_money_is_final() {
    use crate::command::{DeductionKind, DeductionRule, IssueCoupon, SettlePos};
    use crate::state_machine::coupons::CouponState;
    let ([mut p0, mut p1], payer, takings, code) = sale_setup(1_000);
    let issue = Command::IssueCoupon(IssueCoupon {
        coupon: id("c1"),
        merchant: id("shop"),
        holder: id("u1"),
        currency: crate::types::Currency::EUR,
        rule: DeductionRule { kind: DeductionKind::FixedOff { amount: 50 }, min_spend: 0 },
        adjustments: Vec::new(),
        valid_from_ms: NOW,
        valid_until_ms: NOW + 86_400_000,
        reward: None,
        nonce: 5,
    });
    assert!(commit(&mut p0, &[], vec![issue]).outcomes[0].is_applied());
    let Command::SettlePos(mut sale) = settle("s1", &code, 300) else { unreachable!() };
    sale.coupon = Some(id("c1"));
    let second = SettlePos { id: id("s2"), ..sale.clone() };
    let sent = commit(&mut p0, &[], vec![Command::SettlePos(sale)]);
    assert!(matches!(&messages(&sent)[..], [TransitMessage::Move(payment)] if payment.amount == 250));
    // Another sale with the coupon waits for the first: then the coupon is redeemed.
    let waiting = commit(&mut p0, &[], vec![Command::SettlePos(second)]);
    assert_eq!(waiting.pending.len(), 1);
    let credited = deliver(&mut p0, &deliver(&mut p1, &sent));
    let done = deliver(&mut p0, &deliver(&mut p1, &credited));
    // The sale that waited decides after it: the code is used.
    let [(then, refused), (first, Outcome::Applied(Reply::Settled { charged: 250, discount: 50, .. }))] =
        &done.completed[..]
    else {
        panic!("{:?}", done.completed)
    };
    assert_eq!((*first, *then), (sent.pending[0].1, waiting.pending[0].1));
    assert_eq!(*refused, Outcome::Rejected(Rejection::CodeAlreadyUsed));
    assert_eq!(p0.coupon(&id("c1")).unwrap().state, CouponState::Redeemed);
    assert_eq!((posted(&p1, &payer), posted(&p0, &takings)), (750, 250));
}
