//! Resolved settlements, authorizations, holds, coupons, bills and splits leave memory once the
//! window has passed, and a `Restored` message brings one back so that a command naming it (a
//! retry, a refund) decides as before.

use super::*;
use crate::partition::TransitMessage;

const WINDOW: u64 = 60_000;

/// A harness whose resolved objects leave memory after [`WINDOW`]; with a merchant, a funded
/// account "a" and user "u1".
fn harness() -> Harness {
    let mut config = config();
    config.resolved_in_memory_ms = WINDOW;
    let mut h = Harness { machine: StateMachine::new(config), now: 1_700_000_000_000, events: Vec::new() };
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 10_000);
    h
}

/// Commits `messages` then `command` (as the admin); returns the outcome and what left memory.
fn commit(h: &mut Harness, messages: Vec<TransitMessage>, command: Command) -> (Outcome, Vec<Archived>) {
    let mut output = CommitOutput::default();
    h.machine.commit_with_messages(h.now, &messages, &[Submission::admin(command)], &mut output);
    h.machine.check_invariants();
    (output.outcomes.pop().unwrap(), output.archived)
}

fn restored(archived: &[Archived]) -> Vec<TransitMessage> {
    archived.iter().map(|object| TransitMessage::Restored(Box::new(object.clone()))).collect()
}

#[test]
fn resolved_objects_leave_memory_after_the_window_and_come_back_as_they_were() {
    let mut h = harness();
    let code = code_of(h.ok(authorize("au1", 5_000, h.now + 3_600_000, 7)));
    let approved = h.ok(settle("s1", &code, 4_000));
    h.ok(Command::RefundPos(Refund { of: id("s1"), refund: id("r1"), amount: 1_000 }));
    let active = code_of(h.ok(authorize("au2", 5_000, h.now + 3_600_000, 8)));

    // Within the window, nothing leaves.
    h.now += WINDOW - 1;
    let (_, archived) = commit(&mut h, vec![], Command::Tick);
    assert!(archived.is_empty());
    // Past it, the settlement and the used authorization leave; the active one stays.
    h.now += 1;
    let (_, archived) = commit(&mut h, vec![], Command::Tick);
    let kinds: Vec<(ArchivedKind, &str)> =
        archived.iter().map(|object| (object.kind(), object.id().as_str())).collect();
    assert_eq!(kinds, [(ArchivedKind::Authorization, "au1"), (ArchivedKind::Settlement, "s1")]);
    assert!(h.machine.settlement(&id("s1")).is_none() && h.machine.authorization(&id("au1")).is_none());
    assert!(h.machine.authorization(&id("au2")).is_some());
    let wanted = h.machine.objects_to_restore(&[Submission::admin(settle("s1", &code, 4_000))]);
    assert_eq!(wanted, [(ArchivedKind::Settlement, id("s1"))]);
    assert_eq!(archived[1].companion(), None, "it placed no hold");

    // Without it, the refund does not find the settlement; with it, everything is as before.
    let refund = Command::RefundPos(Refund { of: id("s1"), refund: id("r2"), amount: 500 });
    assert_eq!(commit(&mut h, vec![], refund.clone()).0, Outcome::Rejected(Rejection::SettlementNotFound));
    let (outcome, _) = commit(&mut h, restored(&archived), refund);
    assert!(outcome.is_applied(), "{outcome:?}");
    assert_eq!(h.balance("a").0, 6_000 + 1_500);
    assert_eq!(h.machine.settlement_summary(&id("s1")).unwrap().refunds.len(), 2);
    // A retried settlement gets its first answer; a retried authorize its code.
    assert_eq!(h.ok(settle("s1", &code, 4_000)), approved);
    let retry = authorize("au1", 5_000, h.now + 1, 9);
    let (outcome, _) = commit(&mut h, restored(&archived[..1]), retry);
    assert_eq!(outcome, Outcome::Applied(Reply::Authorized { code: code.clone(), expires_at_ms: 1_700_003_600_000 }));
    // Restoring what memory holds changes nothing.
    let before = h.machine.state().after_unchanged_records(1);
    h.machine.commit_with_messages(h.now, &restored(&archived), &[], &mut CommitOutput::default());
    assert!(*h.machine.state() == before);
    // The other code still pays.
    assert!(matches!(h.ok(settle("s2", &active, 100)), Reply::Settled { .. }));
}

#[test]
fn a_spent_code_keeps_its_answer_after_its_authorization_left_memory() {
    let mut h = harness();
    let used = code_of(h.ok(authorize("au1", 5_000, h.now + 3_600_000, 1)));
    h.ok(settle("s1", &used, 100));
    let revoked = code_of(h.ok(authorize("au2", 5_000, h.now + 3_600_000, 2)));
    h.ok(Command::RevokeAuthorization { authorization: id("au2") });
    let expired = code_of(h.ok(authorize("au3", 5_000, h.now + 1_000, 3)));
    h.now += 1_000;
    h.ok(Command::Tick);
    h.now += WINDOW;
    let (_, archived) = commit(&mut h, vec![], Command::Tick);
    assert_eq!(archived.len(), 4, "three authorizations and a settlement");
    assert_eq!(h.rejected(settle("s2", &used, 100)), Rejection::CodeAlreadyUsed);
    assert_eq!(h.rejected(settle("s3", &revoked, 100)), Rejection::CodeRevoked);
    assert_eq!(h.rejected(settle("s4", &expired, 100)), Rejection::Expired);
    // A new authorization still counts only the active ones, and fills the list as before.
    for nonce in 10..10 + crate::constants::AUTHORIZATIONS_PER_USER_MAX as u64 {
        h.ok(authorize(&format!("n{nonce}"), 100, h.now + 60_000, nonce));
    }
    assert_eq!(h.rejected(authorize("n99", 100, h.now + 60_000, 99)), Rejection::TooManyAuthorizations);
    assert!(h.machine.state().retired_authorizations.is_empty(), "dropped from the list, forgotten");
}

/// A day after its authorization's expiry a spent code is forgotten: its answer leaves the
/// user's list (and memory), and the code is then an incorrect one, as one never issued.
#[test]
fn a_spent_code_is_forgotten_a_day_after_its_expiry() {
    let mut h = harness();
    let expires_at_ms = h.now + 3_600_000;
    let used = code_of(h.ok(authorize("au1", 5_000, expires_at_ms, 1)));
    h.ok(settle("s1", &used, 100));
    h.now += WINDOW;
    let (_, archived) = commit(&mut h, vec![], Command::Tick);
    assert_eq!(archived.len(), 2, "the authorization and its settlement");
    assert_eq!(h.machine.state().retired_authorizations.len(), 1);
    h.now = expires_at_ms + crate::constants::SPENT_CODE_REMEMBERED_MS - 1;
    h.ok(Command::Tick);
    assert_eq!(h.rejected(settle("s2", &used, 100)), Rejection::CodeAlreadyUsed, "a day after: still known");
    h.now += 1;
    // Forgotten at once, before any tick sweeps it out; then the tick takes it out of memory.
    assert_eq!(h.rejected(settle("s3", &used, 100)), Rejection::IncorrectCode);
    h.ok(Command::Tick);
    let state = h.machine.state();
    assert!(state.retired_authorizations.is_empty() && state.retired_expiry.is_empty());
    assert!(state.user_authorizations.is_empty(), "nothing of the user's codes is left in memory");
    // A new authorization of the user works as for a new user.
    let fresh = code_of(h.ok(authorize("au2", 5_000, h.now + 60_000, 2)));
    assert!(matches!(h.ok(settle("s4", &fresh, 100)), Reply::Settled { .. }));
}

#[test]
fn a_settlement_leaves_its_merchants_list_and_comes_back_to_it() {
    let mut h = harness();
    let code = code_of(h.ok(authorize("au1", 5_000, h.now + 3_600_000, 1)));
    h.ok(settle("s1", &code, 100));
    assert_eq!(h.machine.settlements_at(&id("m1"), 10, None).0, [id("s1")]);
    h.now += WINDOW;
    let (_, archived) = commit(&mut h, vec![], Command::Tick);
    let Archived::Settlement(settlement) = &archived[1] else { panic!("{archived:?}") };
    assert_eq!(settlement.merchant, Some(id("m1")));
    assert_eq!(archived[1].lists(), [ArchiveList::MerchantSettlements(id("m1"))]);
    assert!(h.machine.settlements_at(&id("m1"), 10, None).0.is_empty());
    commit(&mut h, restored(&archived), Command::Tick);
    assert_eq!(h.machine.settlements_at(&id("m1"), 10, None).0, [id("s1")]);
    // Back in memory for another window, then out again.
    h.now += WINDOW;
    assert_eq!(commit(&mut h, vec![], Command::Tick).1.len(), 2);
}

#[test]
fn a_pos_hold_and_its_settlement_leave_and_come_back_together() {
    let mut h = harness();
    let code = code_of(h.ok(authorize("au1", 5_000, h.now + 3_600_000, 1)));
    let until = h.now + 3_600_000;
    h.ok(settle_held("s1", &code, 3_000, until));
    let terminal = Principal::Terminal(id("t1"));
    h.now += WINDOW;
    // The settlement resolved, but its hold is active: both stay.
    let (_, archived) = commit(&mut h, vec![], Command::Tick);
    assert_eq!(archived.iter().map(Archived::kind).collect::<Vec<_>>(), [ArchivedKind::Authorization]);
    let capture = Command::CaptureHold(CaptureHold { hold: id("s1"), amount: 2_000 });
    assert!(h.run_as(terminal.clone(), capture.clone()).is_applied());
    h.now += WINDOW;
    let (_, archived) = commit(&mut h, vec![], Command::Tick);
    let kinds: Vec<ArchivedKind> = archived.iter().map(Archived::kind).collect();
    assert_eq!(kinds, [ArchivedKind::Hold, ArchivedKind::Settlement]);
    assert!(h.machine.hold(&id("s1")).is_none() && h.machine.settlement(&id("s1")).is_none());
    // A retried capture by the terminal names the hold and the settlement of its id (what the
    // terminal's rule asks, hold or not); restored, it answers as the first did.
    let wanted = h.machine.objects_to_restore(&[Submission::new(terminal.clone(), capture.clone())]);
    assert_eq!(wanted, [(ArchivedKind::Settlement, id("s1")), (ArchivedKind::Hold, id("s1"))]);
    assert_eq!(archived[0].companion(), Some((ArchivedKind::Settlement, id("s1"))));
    assert_eq!(archived[1].companion(), Some((ArchivedKind::Hold, id("s1"))));
    let mut output = CommitOutput::default();
    let submission = Submission::new(terminal, capture);
    h.machine.commit_with_messages(h.now, &restored(&archived), &[submission], &mut output);
    assert_eq!(output.outcomes, [Outcome::Applied(Reply::Captured { captured: 2_000, released: 1_000 })]);
    // The reversal gives back what was captured.
    h.ok(Command::ReversePos { settlement: id("s1") });
    assert_eq!(h.balance("a").0, 10_000);
    // A terminal voiding the "hold" of its sale that placed none: not found, before and after the
    // sale left memory (the rule finds the terminal's settlement in storage).
    let code = code_of(h.ok(authorize("au2", 5_000, h.now + 3_600_000, 2)));
    h.ok(settle("s2", &code, 100));
    let void = Submission::new(Principal::Terminal(id("t1")), Command::VoidHold { hold: id("s2") });
    let mut output = CommitOutput::default();
    h.machine.commit(h.now, std::slice::from_ref(&void), &mut output);
    assert_eq!(output.outcomes, [Outcome::Rejected(Rejection::HoldNotFound)]);
    h.now += WINDOW;
    let (_, archived) = commit(&mut h, vec![], Command::Tick);
    let sale: Vec<Archived> = archived.into_iter().filter(|object| object.id().as_str() == "s2").collect();
    assert_eq!(sale.len(), 1, "the sale left memory");
    let mut output = CommitOutput::default();
    h.machine.commit_with_messages(h.now, &restored(&sale), &[void], &mut output);
    assert_eq!(output.outcomes, [Outcome::Rejected(Rejection::HoldNotFound)]);
    h.machine.check_invariants();
}

#[test]
fn a_tenants_hold_leaves_its_list_and_answers_its_retries_once_back() {
    let mut h = harness();
    let app = Principal::App(id("app"));
    h.machine.commit(h.now, &[Submission::new(app.clone(), open_account("b"))], &mut CommitOutput::default());
    h.machine.commit(h.now, &[Submission::new(app.clone(), open_account("c"))], &mut CommitOutput::default());
    h.deposit("b", 500);
    let place = Command::PlaceHold(PlaceHold {
        id: id("h1"),
        from: id("b"),
        to: id("c"),
        amount: 200,
        currency: Currency::EUR,
        expires_at_ms: h.now + 600_000,
    });
    assert!(h.run_as(app.clone(), place.clone()).is_applied());
    assert!(h.run_as(app.clone(), Command::VoidHold { hold: id("h1") }).is_applied());
    assert_eq!(h.machine.objects_owned(&app, ObjectKind::Hold, 10, None).0, [id("h1")]);
    h.now += WINDOW;
    let (_, archived) = commit(&mut h, vec![], Command::Tick);
    let Archived::Hold(hold) = &archived[0] else { panic!("{archived:?}") };
    assert_eq!(hold.owner, Some(app.clone()));
    assert_eq!(archived[0].lists(), [ArchiveList::Owned(ArchivedKind::Hold, app.clone())]);
    assert!(h.machine.objects_owned(&app, ObjectKind::Hold, 10, None).0.is_empty());
    // Placing it again (a retry) finds it voided: the first answer, nothing held again.
    let mut output = CommitOutput::default();
    h.machine.commit_with_messages(h.now, &restored(&archived), &[Submission::new(app.clone(), place)], &mut output);
    assert_eq!(output.outcomes, [Outcome::Applied(Reply::Done)]);
    assert_eq!(h.balance("b"), (500, 0, 500));
    assert_eq!(h.machine.objects_owned(&app, ObjectKind::Hold, 10, None).0, [id("h1")]);
    h.machine.check_invariants();
}

fn open_account(account: &str) -> Command {
    Command::OpenAccount(OpenAccount { account: id(account), currency: Currency::EUR, overdraft_limit: 0 })
}

fn fixed_off(amount: u64) -> DeductionRule {
    DeductionRule { kind: DeductionKind::FixedOff { amount }, min_spend: 0 }
}

#[test]
fn a_redeemed_coupon_and_its_redemption_leave_memory_and_keep_their_answers() {
    let mut h = harness();
    let code = coupon_code(h.ok(issue("c1", "u1", fixed_off(200), None, &h)));
    let first = h.ok(redeem("r1", "op1", &code, 1_000));
    assert_eq!(h.machine.coupons_held(&id("u1"), 10, None).0, [id("c1")]);
    h.now += WINDOW;
    let (_, archived) = commit(&mut h, vec![], Command::Tick);
    let kinds: Vec<ArchivedKind> = archived.iter().map(Archived::kind).collect();
    assert_eq!(kinds, [ArchivedKind::Coupon, ArchivedKind::Redemption]);
    assert!(h.machine.coupon(&id("c1")).is_none() && h.machine.coupons_held(&id("u1"), 10, None).0.is_empty());
    assert_eq!(archived[0].lists(), [ArchiveList::HeldCoupons(id("u1"))]);
    let Archived::Coupon(stored) = &archived[0] else { panic!("{archived:?}") };
    let code_key = crate::state_machine::archive::code_key(&h.machine.coupon_index(&code));
    assert_eq!(archived[0].keys(), [(ArchivedKind::Coupon, id("c1")), (ArchivedKind::CouponCode, code_key.clone())]);
    assert_eq!(h.machine.code_of(&id("c1"), &stored.coupon), code, "its code is derived again from storage");

    // A retried redemption names its id and the coupon's code; restored, each answers as before.
    let retry = redeem("r1", "op1", &code, 1_000);
    let wanted = h.machine.objects_to_restore(&[Submission::admin(retry.clone())]);
    assert_eq!(wanted, [(ArchivedKind::CouponCode, code_key), (ArchivedKind::Redemption, id("r1"))]);
    assert_eq!(
        commit(&mut h, vec![], redeem("r2", "op1", &code, 1_000)).0,
        Outcome::Rejected(Rejection::CouponNotFound)
    );
    assert_eq!(commit(&mut h, restored(&archived), retry).0, Outcome::Applied(first));
    assert_eq!(h.rejected(redeem("r2", "op1", &code, 1_000)), Rejection::CouponRedeemed);
    assert_eq!(h.machine.coupons_held(&id("u1"), 10, None).0, [id("c1")]);
    // Back for another window, then out again.
    h.now += WINDOW;
    assert_eq!(commit(&mut h, vec![], Command::Tick).1.len(), 2);
}

#[test]
fn an_expired_shared_coupon_leaves_its_pool_at_once_and_memory_a_window_later() {
    let mut h = harness();
    let issued = h.ok(issue("c1", "sharer", fixed_off(200), None, &h));
    h.ok(Command::ShareCoupon(ShareCoupon { coupon: id("c1"), user: id("sharer") }));
    assert_eq!(h.machine.pool(&id("sharer")).count(), 1);
    h.now += 86_400_000;
    let (_, archived) = commit(&mut h, vec![], Command::Tick);
    assert!(archived.is_empty(), "its validity just ended");
    assert_eq!(h.machine.pool(&id("sharer")).count(), 0, "no contact can claim it any more");
    assert_eq!(h.machine.coupon(&id("c1")).unwrap().state, CouponState::Shared);
    h.now += WINDOW;
    let (_, archived) = commit(&mut h, vec![], Command::Tick);
    assert_eq!(archived.iter().map(Archived::kind).collect::<Vec<_>>(), [ArchivedKind::Coupon]);
    assert!(h.machine.state().coupon_codes.is_empty() && h.machine.state().holdings.is_empty());
    // Its id is not reused: a retried issue names it and, restored, gets the first code back;
    // another issue under its id is refused.
    let mut retry = issue("c1", "sharer", fixed_off(200), None, &h);
    let wanted = h.machine.objects_to_restore(&[Submission::admin(retry.clone())]);
    assert_eq!(wanted, [(ArchivedKind::Coupon, id("c1"))]);
    assert_eq!(commit(&mut h, restored(&archived), retry.clone()).0, Outcome::Applied(issued));
    if let Command::IssueCoupon(issue) = &mut retry {
        issue.rule = fixed_off(300);
    }
    assert_eq!(h.rejected(retry), Rejection::AlreadyExists);
    // Back, it leaves again a window after the next batch starts.
    assert!(commit(&mut h, vec![], Command::Tick).1.is_empty());
    h.now += WINDOW;
    assert_eq!(commit(&mut h, vec![], Command::Tick).1.len(), 1);
}

#[test]
fn a_coupon_spent_in_a_pos_sale_answers_coupon_redeemed_once_back() {
    let mut h = harness();
    h.ok(issue("c1", "u1", fixed_off(200), None, &h));
    let first_code = code_of(h.ok(authorize("au1", 5_000, h.now + 3_600_000, 7)));
    let with_coupon = |sale: &str, code: &str| {
        let mut purchase = settle(sale, code, 1_000);
        if let Command::SettlePos(settle) = &mut purchase {
            settle.coupon = Some(id("c1"));
        }
        purchase
    };
    let Reply::Settled { discount, .. } = h.ok(with_coupon("s1", &first_code)) else { panic!() };
    assert_eq!(discount, 200);
    h.now += WINDOW;
    let (_, archived) = commit(&mut h, vec![], Command::Tick);
    assert!(archived.iter().any(|object| object.kind() == ArchivedKind::Coupon), "{archived:?}");
    let code = code_of(h.ok(authorize("au2", 5_000, h.now + 3_600_000, 8)));
    let wanted = h.machine.objects_to_restore(&[Submission::admin(with_coupon("s2", &code))]);
    assert_eq!(wanted, [(ArchivedKind::Settlement, id("s2")), (ArchivedKind::Coupon, id("c1"))]);
    let coupon: Vec<Archived> = archived.into_iter().filter(|object| object.kind() == ArchivedKind::Coupon).collect();
    let (outcome, _) = commit(&mut h, restored(&coupon), with_coupon("s2", &code));
    assert_eq!(outcome, Outcome::Rejected(Rejection::CouponRedeemed));
}

/// Bill b1 of user u1 (account "a", 10,000) at m1, two coffees (700), submitted and paid.
fn paid_bill(h: &mut Harness) {
    open_bill(h, "b1");
    h.ok(add_item("b1", "coffee", 2, 350));
    let (_, challenge) = submitted(h.ok(Command::SubmitBill(SubmitBill { bill: id("b1"), nonce: 1 })));
    h.ok(Command::ConfirmBill(ConfirmBill { bill: id("b1"), challenge, coupon: None, location: None }));
    assert_eq!(h.balance("a").0, 9_300);
}

fn refund_bill(refund: &str, amount: u64) -> Command {
    Command::RefundBill(Refund { of: id("b1"), refund: id(refund), amount })
}

#[test]
fn a_paid_bill_leaves_memory_after_the_window_and_is_refunded_once_back() {
    let mut h = harness();
    paid_bill(&mut h);
    let bill = h.machine.bill(&id("b1")).unwrap().clone();
    h.now += WINDOW - 1;
    assert!(commit(&mut h, vec![], Command::Tick).1.is_empty(), "within the window, it stays");
    h.now += 1;
    let (_, archived) = commit(&mut h, vec![], Command::Tick);
    assert_eq!(archived, [Archived::Bill(ArchivedBill { id: id("b1"), bill, owner: None })]);
    assert!(archived[0].lists().is_empty(), "the admin's: in no tenant's list");
    assert!(h.machine.bill(&id("b1")).is_none());

    // A refund names it; not restored, it is not found; restored, it is refunded as in memory.
    let wanted = h.machine.objects_to_restore(&[Submission::admin(refund_bill("r1", 200))]);
    assert_eq!(wanted, [(ArchivedKind::Bill, id("b1"))]);
    assert_eq!(commit(&mut h, vec![], refund_bill("r1", 200)).0, Outcome::Rejected(Rejection::BillNotFound));
    let first = Outcome::Applied(Reply::Refunded { amount: 200, remaining: 500 });
    assert_eq!(commit(&mut h, restored(&archived), refund_bill("r1", 200)).0, first);
    assert_eq!((h.balance("a").0, h.balance("shop").0), (9_500, 500));
    assert_eq!(h.rejected(refund_bill("r2", 501)), Rejection::RefundExceedsCharge);

    // Back for another window, then out again with its refund; restored, a retry answers as the
    // first did and moves nothing, a changed one is refused, the rest is refunded.
    h.now += WINDOW;
    let (_, again) = commit(&mut h, vec![], Command::Tick);
    let [Archived::Bill(stored)] = again.as_slice() else { panic!("{again:?}") };
    assert_eq!(stored.bill.refunds, [RefundEntry { refund: id("r1"), amount: 200, remaining: 500 }]);
    assert_eq!(commit(&mut h, restored(&again), refund_bill("r1", 200)).0, first);
    assert_eq!(h.rejected(refund_bill("r1", 201)), Rejection::IdReused);
    assert_eq!(h.ok(refund_bill("r2", 500)), Reply::Refunded { amount: 500, remaining: 0 });
    assert_eq!((h.balance("a").0, h.balance("shop").0), (10_000, 0));
}

/// Split s1 of 900 that `app` requested for user "req" (account "acc-req", the app's) of x, y
/// and z (1,000 each), paid by all three: completed, its 900 paid to acc-req.
fn completed_split(h: &mut Harness, app: &Principal) {
    for user in ["req", "x", "y", "z"] {
        let account = format!("acc-{user}");
        assert!(h.run_as(app.clone(), open_account(&account)).is_applied());
        h.deposit(&account, 1_000);
    }
    let request = RequestSplit {
        split: id("s1"),
        requester: id("req"),
        requester_account: id("acc-req"),
        total: 900,
        currency: Currency::EUR,
        members: members(&["x", "y", "z"]),
        shares: SplitShares::Equal,
        expires_at_ms: h.now + 86_400_000,
    };
    assert!(h.run_as(app.clone(), Command::RequestSplit(request)).is_applied());
    for member in ["x", "y", "z"] {
        h.ok(pay("s1", member));
    }
    assert_eq!(h.machine.split(&id("s1")).unwrap().state, SplitState::Completed);
}

fn split_balances(h: &Harness) -> [i64; 4] {
    ["req", "x", "y", "z"].map(|user| h.balance(&format!("acc-{user}")).0)
}

#[test]
fn a_completed_split_leaves_memory_and_its_lists_and_is_refunded_once_back() {
    let mut h = harness();
    let app = Principal::App(id("app"));
    completed_split(&mut h, &app);
    let split = h.machine.split(&id("s1")).unwrap().clone();
    h.now += WINDOW;
    let (_, archived) = commit(&mut h, vec![], Command::Tick);
    assert_eq!(archived, [Archived::Split(ArchivedSplit { id: id("s1"), split, owner: Some(app.clone()) })]);
    let member_lists = ["x", "y", "z"].map(|user| ArchiveList::MemberSplits(id(user)));
    assert_eq!(archived[0].lists()[0], ArchiveList::Owned(ArchivedKind::Split, app.clone()));
    assert_eq!(archived[0].lists()[1..], member_lists);
    assert!(h.machine.split(&id("s1")).is_none());
    assert!(h.machine.objects_owned(&app, ObjectKind::Split, 10, None).0.is_empty());
    assert!(h.machine.splits_of_member(&id("x"), 10, None).0.is_empty());

    // Its requester's refund names it; restored, it is refunded whole, back in its lists.
    let refund = Submission::new(app.clone(), Command::RefundSplit { split: id("s1") });
    assert_eq!(h.machine.objects_to_restore(std::slice::from_ref(&refund)), [(ArchivedKind::Split, id("s1"))]);
    let mut output = CommitOutput::default();
    h.machine.commit_with_messages(h.now, &restored(&archived), std::slice::from_ref(&refund), &mut output);
    let refunded = Outcome::Applied(Reply::Refunded { amount: 900, remaining: 0 });
    assert_eq!(output.outcomes, std::slice::from_ref(&refunded));
    assert_eq!(split_balances(&h), [1_000; 4]);
    assert_eq!(h.machine.objects_owned(&app, ObjectKind::Split, 10, None).0, [id("s1")]);
    assert_eq!(h.machine.splits_of_member(&id("x"), 10, None).0, [id("s1")]);

    // Out again, refunded; restored, a retry answers as the first did and moves nothing, and
    // another app may not refund it.
    h.now += WINDOW;
    let (_, again) = commit(&mut h, vec![], Command::Tick);
    let [Archived::Split(stored)] = again.as_slice() else { panic!("{again:?}") };
    assert_eq!(stored.split.state, SplitState::Refunded);
    let other = Submission::new(Principal::App(id("other")), Command::RefundSplit { split: id("s1") });
    let mut output = CommitOutput::default();
    h.machine.commit_with_messages(h.now, &restored(&again), &[other, refund], &mut output);
    assert_eq!(output.outcomes, [Outcome::Rejected(Rejection::Forbidden), refunded]);
    h.machine.check_invariants();
    assert_eq!(split_balances(&h), [1_000; 4]);
}

/// The limit counts active authorizations wherever they sit in the user's list: a full list
/// refuses another; one resolved in the middle or at either end makes room for exactly one.
#[test]
fn the_active_authorizations_limit_counts_every_position_of_the_list() {
    let max = crate::constants::AUTHORIZATIONS_PER_USER_MAX as u64;
    for resolved in [0, max / 2, max - 1] {
        let mut h = harness();
        let codes: Vec<String> =
            (0..max).map(|nonce| code_of(h.ok(authorize(&format!("n{nonce}"), 100, h.now + 60_000, nonce)))).collect();
        assert_eq!(h.rejected(authorize("extra", 100, h.now + 60_000, 100)), Rejection::TooManyAuthorizations);
        if resolved == max / 2 {
            h.ok(settle("s1", &codes[resolved as usize], 100));
        } else {
            h.ok(Command::RevokeAuthorization { authorization: id(&format!("n{resolved}")) });
        }
        h.ok(authorize("extra", 100, h.now + 60_000, 100));
        assert_eq!(h.rejected(authorize("extra2", 100, h.now + 60_000, 101)), Rejection::TooManyAuthorizations);
    }
}
