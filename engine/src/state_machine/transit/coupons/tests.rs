//! A sale on one partition with a coupon of another, message by message: the coupon is priced
//! and kept where it lives, redeemed only by an approved sale's end, freed by a refused one's,
//! and every message applied twice acts once.

use super::super::tests::{
    NOW, account_on, authorize, commit, issue_coupon_to, machines, messages, open, posted, register_shop,
};
use crate::command::{Command, Outcome, Rejection, Reply, ShareCoupon};
use crate::partition::{CouponAsk, PartitionId, TransitMessage};
use crate::state_machine::coupons::CouponState;
use crate::state_machine::tests::{id, settle};
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::Id;

/// Delivers `output`'s messages to their partitions until none is left; returns what each
/// partition completed, in order.
fn pump(machines: &mut [StateMachine; 2], output: &CommitOutput) -> Vec<(PartitionId, u64, Outcome)> {
    let mut completed = Vec::new();
    let mut outgoing = output.outgoing.clone();
    while !outgoing.is_empty() {
        let mut next = Vec::new();
        for partition in 0..2u16 {
            let batch: Vec<TransitMessage> =
                outgoing.iter().filter(|sent| sent.destination == partition).map(|sent| sent.message.clone()).collect();
            if batch.is_empty() {
                continue;
            }
            let done = commit(&mut machines[usize::from(partition)], &batch, vec![]);
            completed.extend(done.completed.into_iter().map(|(number, outcome)| (partition, number, outcome)));
            next.extend(done.outgoing);
        }
        outgoing = next;
    }
    completed
}

/// Merchant `shop` (terminal `t1`) with its account on `takings_on`, registered on the home
/// partition and known on both; coupon `c1` (100 off) issued there to `holder`; user `u1`'s
/// payer account on partition 1 holding `deposit`, and authorization `a1` on it there (limit
/// 500). Returns the machines, the payer and merchant accounts, and the code.
fn setup(takings_on: u16, holder: &str, deposit: u64) -> ([StateMachine; 2], Id, Id, String) {
    let mut machines = machines();
    let (payer, takings) = (account_on(&machines[0], 1, "payer"), account_on(&machines[0], takings_on, "takings"));
    open(&mut machines[usize::from(takings_on)], &takings, 0);
    open(&mut machines[1], &payer, deposit);
    let registered = register_shop(&mut machines[0], &takings);
    pump(&mut machines, &registered);
    issue_coupon_to(&mut machines[0], &user(holder));
    assert!(machines[0].coupon(&id("c1")).is_some() && machines[1].coupon(&id("c1")).is_none());
    let mut authorize = authorize("a1", &payer, 7);
    if let Command::Authorize(authorize) = &mut authorize {
        authorize.user = user("u1");
    }
    let authorized = commit(&mut machines[1], &[], vec![authorize]);
    let [Outcome::Applied(Reply::Authorized { code, .. })] = &authorized.outcomes[..] else {
        panic!("authorized on the payer's partition: {:?}", authorized.outcomes)
    };
    let code = code.clone();
    (machines, payer, takings, code)
}

/// User `name`'s id on partition 1 of 2, where its authorizations and sales live.
fn user(name: &str) -> Id {
    let config = crate::state_machine::tests::config().for_partition(0, 2);
    (0..).map(|n| id(&format!("{name}-{n}"))).find(|user| config.placement().of_user(user) == 1).unwrap()
}

/// Sale `settlement` of `u1`, with coupon `c1` or without.
fn sale(settlement: &str, code: &str, amount: u64, coupon: bool) -> Command {
    let mut command = settle(settlement, code, amount);
    if let Command::SettlePos(settle) = &mut command {
        settle.user = user("u1");
        settle.coupon = coupon.then(|| id("c1"));
    }
    command
}

fn sale_with_coupon(settlement: &str, code: &str, amount: u64) -> Command {
    sale(settlement, code, amount, true)
}

fn coupon_state(machine: &StateMachine) -> CouponState {
    machine.coupon(&id("c1")).expect("the coupon lives on the home partition").state.clone()
}

#[test]
fn a_sale_prices_its_coupon_where_it_lives_and_redeems_it_once_approved() {
    let ([mut p0, mut p1], payer, takings, code) = setup(1, "u1", 1_000);
    let asked = commit(&mut p1, &[], vec![sale_with_coupon("s1", &code, 300)]);
    let [(_, caller)] = asked.pending[..] else { panic!("the sale waits for its coupon: {:?}", asked.pending) };
    let ask = messages(&asked);
    let [TransitMessage::CouponAsk(CouponAsk { coupon, user: payer_user, merchant, amount: 300, .. })] = &ask[..]
    else {
        panic!("{ask:?}")
    };
    assert_eq!((coupon, payer_user, merchant), (&id("c1"), &user("u1"), &id("shop")));
    let resent: Vec<TransitMessage> = p1.transit().open_messages().into_iter().map(|sent| sent.message).collect();
    assert_eq!(resent, ask, "sent again after a restart until answered");

    // Asked twice (a resend after a crash): priced and kept once, answered alike.
    let quoted = commit(&mut p0, &ask, vec![]);
    assert_eq!(messages(&quoted), messages(&commit(&mut p0, &ask, vec![])));
    assert!(matches!(&messages(&quoted)[..], [TransitMessage::CouponQuoted { quote: Ok(100), .. }]));
    assert!(p0.transit().redeeming(&id("c1")) && p0.transit().coupons_kept() == 1);
    // The coupon's own commands wait while it is kept for the sale.
    let share = Command::ShareCoupon(ShareCoupon { coupon: id("c1"), user: user("u1") });
    let sharing = commit(&mut p0, &[], vec![share]);
    let [(_, share_caller)] = sharing.pending[..] else { panic!("the share waits: {:?}", sharing.pending) };

    let sold = commit(&mut p1, &messages(&quoted), vec![]);
    let [(number, Outcome::Applied(Reply::Settled { charged: 200, discount: 100, .. }))] = &sold.completed[..] else {
        panic!("approved with the discount: {:?}", sold.completed)
    };
    assert_eq!(*number, caller);
    assert_eq!((posted(&p1, &payer), posted(&p1, &takings)), (800, 200));
    let end = messages(&sold);
    assert!(matches!(&end[..], [TransitMessage::CouponEnded(end)] if end.redeemed));
    assert!(commit(&mut p1, &messages(&quoted), vec![]).completed.is_empty(), "a repeated answer changes nothing");

    // Ended twice: redeemed once; the share that waited is decided after it.
    let ended = commit(&mut p0, &end, vec![]);
    assert_eq!(ended.completed, vec![(share_caller, Outcome::Rejected(Rejection::CouponRedeemed))]);
    assert_eq!(coupon_state(&p0), CouponState::Redeemed);
    let again = commit(&mut p0, &end, vec![]);
    assert_eq!(messages(&ended), messages(&again), "an end is answered every time");
    assert!(again.completed.is_empty() && p0.transit().coupons_kept() == 0 && !p0.transit().redeeming(&id("c1")));
    commit(&mut p1, &messages(&ended), vec![]);
    assert!(p1.transit().open_messages().is_empty(), "nothing left to send");
}

#[test]
fn a_refused_sale_frees_its_coupon_and_a_coupon_refused_is_not_kept() {
    let ([mut p0, mut p1], payer, _, code) = setup(1, "u1", 1_000);
    // A wrong code asks nothing: nobody keeps a coupon without the user's code.
    let wrong = commit(&mut p1, &[], vec![sale_with_coupon("s0", "12345678", 300)]);
    assert_eq!(wrong.outcomes, vec![Outcome::Rejected(Rejection::IncorrectCode)]);
    assert!(messages(&wrong).is_empty());
    // 700 - 100 exceeds the authorization's limit of 500: refused after pricing.
    let asked = commit(&mut p1, &[], vec![sale_with_coupon("s1", &code, 700)]);
    let quoted = commit(&mut p0, &messages(&asked), vec![]);
    let refused = commit(&mut p1, &messages(&quoted), vec![]);
    assert_eq!(refused.completed, vec![(asked.pending[0].1, Outcome::Rejected(Rejection::ExceedsLimit))]);
    assert!(matches!(&messages(&refused)[..], [TransitMessage::CouponEnded(end)] if !end.redeemed));
    commit(&mut p0, &messages(&refused), vec![]);
    assert_eq!(coupon_state(&p0), CouponState::Available);
    assert!(!p0.transit().redeeming(&id("c1")) && p0.transit().coupons_kept() == 0);
    // The authorization is still usable: the next sale, within the limit, is approved.
    let asked = commit(&mut p1, &[], vec![sale_with_coupon("s2", &code, 300)]);
    let mut machines = [p0, p1];
    let done = pump(&mut machines, &asked);
    assert!(matches!(&done[..], [(1, _, Outcome::Applied(Reply::Settled { charged: 200, .. }))]), "{done:?}");
    assert_eq!((coupon_state(&machines[0]), posted(&machines[1], &payer)), (CouponState::Redeemed, 800));

    // A coupon the user does not hold: refused where it lives, nothing kept, the sale refused.
    let ([mut p0, mut p1], payer, _, code) = setup(1, "u2", 1_000);
    let asked = commit(&mut p1, &[], vec![sale_with_coupon("s1", &code, 300)]);
    let quoted = commit(&mut p0, &messages(&asked), vec![]);
    assert!(matches!(
        &messages(&quoted)[..],
        [TransitMessage::CouponQuoted { quote: Err(Rejection::NotCouponHolder), .. }]
    ));
    assert!(!p0.transit().redeeming(&id("c1")));
    let refused = commit(&mut p1, &messages(&quoted), vec![]);
    assert_eq!(refused.completed, vec![(asked.pending[0].1, Outcome::Rejected(Rejection::NotCouponHolder))]);
    commit(&mut p0, &messages(&refused), vec![]);
    assert_eq!((p0.transit().coupons_kept(), posted(&p1, &payer)), (0, 1_000));
}

#[test]
fn a_sale_whose_money_crosses_ends_its_coupon_when_final() {
    // The merchant's account lives on the home partition: the sale's money crosses too.
    let ([mut p0, mut p1], payer, takings, code) = setup(0, "u1", 1_000);
    let asked = commit(&mut p1, &[], vec![sale_with_coupon("s1", &code, 300)]);
    let quoted = commit(&mut p0, &messages(&asked), vec![]);
    let paying = commit(&mut p1, &messages(&quoted), vec![]);
    assert!(paying.completed.is_empty(), "the sale waits for its money");
    assert!(matches!(&messages(&paying)[..], [TransitMessage::Credit(credit)] if credit.amount == 200));
    let mut machines = [p0, p1];
    let done = pump(&mut machines, &paying);
    // The caller's number completes (with the credit's, which stood in for it).
    let caller = done.iter().find(|(partition, number, _)| *partition == 1 && *number == asked.pending[0].1);
    assert!(matches!(caller, Some((_, _, Outcome::Applied(Reply::Settled { discount: 100, .. })))), "{done:?}");
    assert_eq!(coupon_state(&machines[0]), CouponState::Redeemed);
    assert_eq!((posted(&machines[1], &payer), posted(&machines[0], &takings)), (800, 200));
    assert!(machines.iter().all(|machine| machine.transit().open_messages().is_empty()));
}

#[test]
fn the_users_next_sale_waits_behind_one_being_priced_and_a_kept_coupon_refuses_another_ask() {
    let ([mut p0, mut p1], _, _, code) = setup(1, "u1", 1_000);
    // The second sale presents the same code: decided after the first, as on one partition.
    let asked = commit(&mut p1, &[], vec![sale_with_coupon("s1", &code, 300), sale("s2", &code, 50, false)]);
    assert_eq!(asked.pending.len(), 2, "{:?}", asked.outcomes);
    assert_eq!(messages(&asked).len(), 1, "one ask: the second sale waits behind it");

    let quoted = commit(&mut p0, &messages(&asked), vec![]);
    // Another ask for the kept coupon (a sale elsewhere) is refused while it is kept.
    let TransitMessage::CouponAsk(first) = &messages(&asked)[0] else { unreachable!() };
    let other = TransitMessage::CouponAsk(CouponAsk { number: first.number + 100, ..first.clone() });
    let raced = commit(&mut p0, &[other], vec![]);
    assert!(matches!(
        &messages(&raced)[..],
        [TransitMessage::CouponQuoted { quote: Err(Rejection::CouponRedeemed), .. }]
    ));

    let sold = commit(&mut p1, &messages(&quoted), vec![]);
    let outcomes: Vec<&Outcome> = sold.completed.iter().map(|(_, outcome)| outcome).collect();
    assert!(
        matches!(
            outcomes[..],
            [Outcome::Applied(Reply::Settled { .. }), Outcome::Rejected(Rejection::CodeAlreadyUsed)]
        ),
        "{outcomes:?}"
    );
}

/// Bill `b1` of `u1` on partition 1, charged to `payer` there: one item of 400, submitted.
/// Returns the challenge.
fn bill_on_p1(p1: &mut StateMachine, payer: &Id) -> String {
    use crate::command::{AddBillItem, OpenBill, SubmitBill};
    let open = Command::OpenBill(OpenBill {
        bill: id("b1"),
        user: user("u1"),
        account: payer.clone(),
        merchant: id("shop"),
        opens_at_ms: NOW,
        closes_at_ms: NOW + 600_000,
    });
    let item = Command::AddBillItem(AddBillItem {
        bill: id("b1"),
        terminal: id("t1"),
        item_ref: "tea".into(),
        quantity: 1,
        unit_amount: 400,
    });
    let submit = Command::SubmitBill(SubmitBill { bill: id("b1"), nonce: 3 });
    let submitted = commit(p1, &[], vec![open, item, submit]);
    let Outcome::Applied(Reply::BillSubmitted { total: 400, challenge }) = &submitted.outcomes[2] else {
        panic!("{:?}", submitted.outcomes)
    };
    challenge.clone()
}

fn confirm_with_coupon(challenge: &str) -> Command {
    let confirm = crate::command::ConfirmBill {
        bill: id("b1"),
        challenge: challenge.into(),
        coupon: Some(id("c1")),
        location: None,
    };
    Command::ConfirmBill(confirm)
}

#[test]
fn a_bill_prices_its_coupon_where_it_lives_and_its_commands_wait_for_the_answer() {
    let ([p0, mut p1], payer, takings, _) = setup(1, "u1", 1_000);
    let challenge = bill_on_p1(&mut p1, &payer);
    // A wrong challenge asks nothing: refused (and counted) here.
    let wrong = commit(&mut p1, &[], vec![confirm_with_coupon("000000")]);
    assert_eq!(wrong.outcomes, vec![Outcome::Rejected(Rejection::IncorrectCode)]);
    assert!(messages(&wrong).is_empty());

    // The confirmation asks; a cancellation of the bill sent behind it waits for it.
    let cancel = Command::CancelBill { bill: id("b1") };
    let asked = commit(&mut p1, &[], vec![confirm_with_coupon(&challenge), cancel]);
    assert_eq!(asked.pending.len(), 2, "{:?}", asked.outcomes);
    let ask = messages(&asked);
    assert!(matches!(&ask[..], [TransitMessage::CouponAsk(ask)] if ask.amount == 400 && ask.user == user("u1")));
    let mut machines = [p0, p1];
    let done = pump(&mut machines, &asked);
    let outcomes: Vec<&Outcome> =
        done.iter().filter(|(partition, ..)| *partition == 1).map(|(_, _, outcome)| outcome).collect();
    assert!(
        matches!(
            outcomes[..],
            [
                Outcome::Applied(Reply::BillPaid { charged: 300, discount: 100 }),
                Outcome::Rejected(Rejection::BillNotOpen)
            ]
        ),
        "{outcomes:?}"
    );
    assert_eq!(coupon_state(&machines[0]), CouponState::Redeemed);
    assert_eq!((posted(&machines[1], &payer), posted(&machines[1], &takings)), (700, 300));
    assert!(machines.iter().all(|machine| machine.transit().open_messages().is_empty()));
    assert_eq!(machines[0].transit().coupons_kept(), 0);
}
