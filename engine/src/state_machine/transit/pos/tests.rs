//! POS sales whose payer lives on another partition, message by message: an authorization
//! checks its account there; a sale moves the money there and back, exactly once; a refusal
//! leaves the authorization usable and moves nothing; a reversal pays the payer back there.

use super::super::tests::{NOW, account_on, authorize, commit, machines, messages, open, posted, register_shop};
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
    let sent = commit(&mut p0, &[], vec![authorize("a1", &payer, 7)]);
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

/// POS pre-authorization holds whose payer lives elsewhere (`transit/pos_holds.rs`).
mod held {
    use super::*;
    use crate::command::{CaptureHold, Refund, Submission};
    use crate::state_machine::HoldState;
    use crate::state_machine::tests::settle_held;

    const UNTIL: u64 = NOW + 60_000;

    fn held(machine: &StateMachine, account: &Id) -> u64 {
        machine.account(account).unwrap().held
    }

    fn capture(amount: u64) -> Command {
        Command::CaptureHold(CaptureHold { hold: id("s1"), amount })
    }

    fn tick(machine: &mut StateMachine, now: u64) -> CommitOutput {
        let mut output = CommitOutput::default();
        machine.commit(now, &Submission::admin_all([Command::Tick]), &mut output);
        machine.check_invariants();
        output
    }

    /// A held sale of 300 on the payer of `sale_setup(deposit)`, approved.
    fn held_sale(deposit: u64) -> ([StateMachine; 2], Id, Id) {
        let ([mut p0, mut p1], payer, takings, code) = sale_setup(deposit);
        let sent = commit(&mut p0, &[], vec![settle_held("s1", &code, 300, UNTIL)]);
        assert!(p0.placing_hold(&id("s1")), "the directory routes the hold's id home meanwhile");
        let answered = deliver(&mut p1, &sent);
        assert!(deliver(&mut p1, &sent).outgoing.len() == 1, "a copy is answered again");
        assert_eq!((posted(&p1, &payer), held(&p1, &payer)), (deposit as i64, 300), "held once");
        let done = deliver(&mut p0, &answered);
        assert!(matches!(&done.completed[..], [(_, Outcome::Applied(Reply::Settled { charged: 300, .. }))]));
        let hold = p0.hold(&id("s1")).expect("the hold lives with its sale");
        assert_eq!((&hold.from, hold.state), (&payer, HoldState::Active));
        assert!(p0.keeps_hold(&id("s1")) && !p0.placing_hold(&id("s1")));
        ([p0, p1], payer, takings)
    }

    #[test]
    fn a_captured_sale_pays_the_merchant_and_releases_the_rest_where_the_payer_lives() {
        let ([mut p0, mut p1], payer, takings) = held_sale(1_000);
        // A closed payer elsewhere cannot close while its funds are held.
        let close = commit(&mut p1, &[], vec![Command::CloseAccount { account: payer.clone() }]);
        assert!(!close.outcomes[0].is_applied());
        let sent = commit(&mut p0, &[], vec![capture(200)]);
        assert_eq!(p0.hold(&id("s1")).unwrap().state, HoldState::Capturing(200));
        assert_eq!(commit(&mut p0, &[], vec![capture(200)]).pending, sent.pending, "a repeat waits for it");
        let paid = deliver(&mut p1, &sent);
        assert_eq!((posted(&p1, &payer), held(&p1, &payer)), (800, 100), "the rest stays held meanwhile");
        let credited = deliver(&mut p0, &paid);
        assert_eq!(posted(&p0, &takings), 200);
        let answered = deliver(&mut p1, &credited);
        assert_eq!((posted(&p1, &payer), held(&p1, &payer)), (800, 0));
        let done = deliver(&mut p0, &answered);
        let captured = Outcome::Applied(Reply::Captured { captured: 200, released: 100 });
        assert_eq!(done.completed, vec![(sent.pending[0].1, captured.clone())]);
        assert_eq!(p0.hold(&id("s1")).unwrap().state, HoldState::Captured(200));
        assert_eq!(commit(&mut p0, &[], vec![capture(200)]).outcomes[0], captured, "a retry answers alike");
        // A refund gives back what was captured, where the payer lives.
        let refund = Command::RefundPos(Refund { refund: id("r1"), of: id("s1"), amount: 50 });
        let sent = commit(&mut p0, &[], vec![refund]);
        deliver(&mut p0, &deliver(&mut p1, &sent));
        assert_eq!((posted(&p1, &payer), posted(&p0, &takings)), (850, 150));
        assert!(p0.transit().open_messages().is_empty() && p1.transit().open_messages().is_empty());
    }

    #[test]
    fn a_void_releases_the_funds_before_it_answers_and_an_expiry_on_each_side() {
        let ([mut p0, mut p1], payer, _) = held_sale(1_000);
        let sent = commit(&mut p0, &[], vec![Command::VoidHold { hold: id("s1") }]);
        assert_eq!(sent.pending.len(), 1, "the void answers once the funds are released");
        assert_eq!(p0.hold(&id("s1")).unwrap().state, HoldState::Voided);
        let released = deliver(&mut p1, &sent);
        assert_eq!(held(&p1, &payer), 0);
        assert!(deliver(&mut p1, &sent).outgoing.len() == 1 && held(&p1, &payer) == 0, "released once");
        let done = deliver(&mut p0, &released);
        assert_eq!(done.completed, vec![(sent.pending[0].1, Outcome::Applied(Reply::Done))]);

        // Another sale's hold expires at home and its funds at the payer's tick, no message.
        let ([mut p0, mut p1], payer, _) = held_sale(1_000);
        let ticked = tick(&mut p0, UNTIL);
        assert_eq!(ticked.outcomes, vec![Outcome::Applied(Reply::Ticked { expired: 1 })]);
        assert!(ticked.outgoing.is_empty());
        assert_eq!(p0.hold(&id("s1")).unwrap().state, HoldState::Expired);
        assert_eq!(held(&p1, &payer), 300, "until the payer's partition ticks");
        let ticked = tick(&mut p1, UNTIL);
        assert_eq!(ticked.outcomes, vec![Outcome::Applied(Reply::Ticked { expired: 0 })]);
        assert_eq!((posted(&p1, &payer), held(&p1, &payer)), (1_000, 0));
    }

    #[test]
    fn a_reversal_voids_the_hold_and_releases_the_funds() {
        let ([mut p0, mut p1], payer, _) = held_sale(1_000);
        let sent = commit(&mut p0, &[], vec![Command::ReversePos { settlement: id("s1") }]);
        assert_eq!(sent.pending.len(), 1);
        let done = deliver(&mut p0, &deliver(&mut p1, &sent));
        assert_eq!(done.completed, vec![(sent.pending[0].1, Outcome::Applied(Reply::Done))]);
        assert_eq!((p0.hold(&id("s1")).unwrap().state, held(&p1, &payer)), (HoldState::Voided, 0));
        assert!(p0.settlement_summary(&id("s1")).unwrap().reversed);
    }

    #[test]
    fn a_refused_held_sale_holds_nothing_in_one_partitions_order() {
        let ([mut p0, mut p1], payer, takings, code) = sale_setup(100);
        let sent = commit(&mut p0, &[], vec![settle_held("s1", &code, 300, UNTIL)]);
        let done = deliver(&mut p0, &deliver(&mut p1, &sent));
        assert_eq!(done.completed, vec![(sent.pending[0].1, Outcome::Rejected(Rejection::InsufficientFunds))]);
        assert_eq!(p0.authorization(&id("a1")).unwrap().state, AuthorizationState::Active);
        assert!(p0.hold(&id("s1")).is_none() && held(&p1, &payer) == 0);
        // The merchant's account closed: refused after the payer's checks, as on one partition.
        commit(&mut p0, &[], vec![Command::CloseAccount { account: takings.clone() }]);
        let sent = commit(&mut p0, &[], vec![settle_held("s2", &code, 50, UNTIL)]);
        let done = deliver(&mut p0, &deliver(&mut p1, &sent));
        assert_eq!(done.completed, vec![(sent.pending[0].1, Outcome::Rejected(Rejection::AccountClosed))]);
        commit(&mut p1, &[], vec![Command::CloseAccount { account: payer.clone() }]);
        let sent = commit(&mut p0, &[], vec![settle_held("s3", &code, 50, UNTIL)]);
        let done = deliver(&mut p0, &deliver(&mut p1, &sent));
        assert_eq!(done.completed, vec![(sent.pending[0].1, Outcome::Rejected(Rejection::AccountClosed))]);
        assert!(p0.hold(&id("s3")).is_none() && p1.transit().open_messages().is_empty());
    }

    #[test]
    fn a_refused_capture_leaves_the_hold_active_with_its_funds_held() {
        let ([mut p0, mut p1], payer, takings) = held_sale(1_000);
        let sent = commit(&mut p0, &[], vec![capture(300)]);
        // The merchant's account closes while the capture is in flight: its credit is refused.
        assert!(
            commit(&mut p0, &[], vec![Command::CloseAccount { account: takings.clone() }]).outcomes[0].is_applied()
        );
        let refused = deliver(&mut p0, &deliver(&mut p1, &sent));
        assert_eq!((posted(&p1, &payer), held(&p1, &payer)), (700, 0));
        let answered = deliver(&mut p1, &refused);
        assert_eq!((posted(&p1, &payer), held(&p1, &payer)), (1_000, 300), "held again");
        let done = deliver(&mut p0, &answered);
        assert_eq!(done.completed, vec![(sent.pending[0].1, Outcome::Rejected(Rejection::AccountClosed))]);
        assert_eq!(p0.hold(&id("s1")).unwrap().state, HoldState::Active);
        // The payer's tick released the funds before a capture arrived: refused `expired`.
        let ([mut p0, mut p1], payer, _) = held_sale(1_000);
        let sent = commit(&mut p0, &[], vec![capture(100)]);
        tick(&mut p1, UNTIL);
        let done = deliver(&mut p0, &deliver(&mut p1, &sent));
        assert_eq!(done.completed, vec![(sent.pending[0].1, Outcome::Rejected(Rejection::Expired))]);
        assert_eq!(p0.hold(&id("s1")).unwrap().state, HoldState::Active, "until the home partition ticks");
        assert_eq!(tick(&mut p0, UNTIL).outcomes, vec![Outcome::Applied(Reply::Ticked { expired: 1 })]);
        assert_eq!((posted(&p1, &payer), held(&p1, &payer)), (1_000, 0));
    }
}
