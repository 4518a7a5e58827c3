//! Flow tests: every command's happy path and its rejections. Invariants are checked after
//! every command. Accounts, holds and POS here; bills, splits and coupons in `users.rs`.

use super::*;
use crate::command::*;
use crate::types::GeoPoint;

mod archive;
mod closed_accounts;
mod iso_ids;
mod pos_holds;
mod replica;
mod users;
pub(crate) use users::{add_item, coupon_code, issue, members, open_bill, pay, redeem, request_split, submitted};

pub(crate) fn id(text: &str) -> Id {
    Id::new(text).unwrap()
}

pub(crate) fn config() -> Config {
    Config::with_ids_max(SecretKey::from_bytes(&[42; 32]), 4_096)
}

/// A machine, a clock and the events seen so far.
pub(crate) struct Harness {
    pub(crate) machine: StateMachine,
    pub(crate) now: TimestampMs,
    pub(crate) events: Vec<Event>,
}

impl Harness {
    pub(crate) fn new() -> Harness {
        Harness { machine: StateMachine::new(config()), now: 1_700_000_000_000, events: Vec::new() }
    }

    /// Commits `command` as the admin.
    pub(crate) fn run(&mut self, command: Command) -> Outcome {
        self.run_as(Principal::Admin, command)
    }

    /// Commits `command` as `principal`; a rejection must leave the state as it was.
    pub(crate) fn run_as(&mut self, principal: Principal, command: Command) -> Outcome {
        // The clock (and the idempotency epoch it sets) first, then the command.
        self.machine.begin_batch(self.now);
        let before = self.machine.state().after_unchanged_records(1);
        // Declined POS settlements are remembered (a retried STAN gets the same answer), and
        // wrong codes count towards the lockout: the documented traces of a refusal.
        let leaves_trace = matches!(command, Command::SettlePos(_));
        let mut output = CommitOutput::default();
        self.machine.commit(self.now, &[Submission::new(principal, command)], &mut output);
        self.machine.check_invariants();
        let outcome = output.outcomes.pop().unwrap();
        let brute_force = matches!(outcome.rejection(), Some(Rejection::IncorrectCode | Rejection::CodeTriesExceeded));
        if outcome.rejection().is_some() && !leaves_trace && !brute_force {
            assert!(*self.machine.state() == before, "a refused command changed the state");
        }
        self.events.extend(output.events);
        outcome
    }

    pub(crate) fn ok(&mut self, command: Command) -> Reply {
        match self.run(command.clone()) {
            Outcome::Applied(reply) => reply,
            refused => panic!("{command:?} refused: {refused:?}"),
        }
    }

    pub(crate) fn rejected(&mut self, command: Command) -> Rejection {
        let events_before = self.events.len();
        match self.run(command.clone()) {
            Outcome::Applied(reply) => panic!("{command:?} applied: {reply:?}"),
            Outcome::Rejected(rejection) | Outcome::BatchRejected { rejection, .. } => {
                let new_events = &self.events[events_before..];
                assert!(new_events.iter().all(|event| matches!(
                    event,
                    Event::CodeRejected { .. } | Event::Changed { change: Change::Locked, .. }
                )));
                rejection
            }
        }
    }

    pub(crate) fn open(&mut self, account: &str, overdraft_limit: u64) {
        self.ok(Command::OpenAccount(OpenAccount { account: id(account), currency: Currency::EUR, overdraft_limit }));
    }

    pub(crate) fn deposit(&mut self, account: &str, amount: u64) {
        let movement_id = format!("dep-{account}-{}", self.events.len());
        self.ok(Command::Deposit(Movement { id: id(&movement_id), account: id(account), amount }));
    }

    pub(crate) fn balance(&self, account: &str) -> (i64, u64, i64) {
        let account = self.machine.account(&id(account)).unwrap();
        (account.posted, account.held, account.available())
    }

    pub(crate) fn merchant(&mut self) {
        self.open("shop", 0);
        self.ok(Command::RegisterMerchant(RegisterMerchant { merchant: id("m1"), account: id("shop") }));
        self.ok(Command::RegisterTerminal(RegisterTerminal {
            terminal: id("t1"),
            merchant: id("m1"),
            mac_key: None,
            location: None,
        }));
        self.ok(Command::RegisterOperator(RegisterOperator { operator: id("op1"), merchant: id("m1") }));
    }
}

pub(crate) fn transfer(transfer_id: &str, from: &str, to: &str, amount: u64) -> Transfer {
    Transfer { id: id(transfer_id), from: id(from), to: id(to), amount, currency: Currency::EUR }
}

#[test]
fn accounts_open_deposit_withdraw_close() {
    let mut h = Harness::new();
    h.open("a", 0);
    assert_eq!(
        h.rejected(Command::OpenAccount(OpenAccount { account: id("a"), currency: Currency::USD, overdraft_limit: 0 })),
        Rejection::AlreadyExists
    );
    // Same open again is an idempotent repeat.
    h.ok(Command::OpenAccount(OpenAccount { account: id("a"), currency: Currency::EUR, overdraft_limit: 0 }));
    let deposit = Command::Deposit(Movement { id: id("d1"), account: id("a"), amount: 1_000 });
    h.ok(deposit.clone());
    h.ok(deposit);
    assert_eq!(h.balance("a"), (1_000, 0, 1_000), "a repeated deposit applies once");
    assert_eq!(
        h.rejected(Command::Deposit(Movement { id: id("d1"), account: id("a"), amount: 5 })),
        Rejection::IdReused
    );
    assert_eq!(
        h.rejected(Command::Deposit(Movement { id: id("d2"), account: id("zz"), amount: 5 })),
        Rejection::AccountNotFound
    );
    assert_eq!(
        h.rejected(Command::Deposit(Movement { id: id("d3"), account: id("a"), amount: 0 })),
        Rejection::InvalidAmount
    );
    assert_eq!(
        h.rejected(Command::Withdraw(Movement { id: id("w1"), account: id("a"), amount: 1_001 })),
        Rejection::InsufficientFunds
    );
    assert_eq!(h.rejected(Command::CloseAccount { account: id("a") }), Rejection::AccountNotEmpty);
    h.ok(Command::Withdraw(Movement { id: id("w2"), account: id("a"), amount: 1_000 }));
    h.ok(Command::CloseAccount { account: id("a") });
    assert_eq!(
        h.rejected(Command::Deposit(Movement { id: id("d4"), account: id("a"), amount: 5 })),
        Rejection::AccountClosed
    );
    let totals = h.machine.totals()[&Currency::EUR];
    assert_eq!((totals.deposited, totals.withdrawn), (1_000, 1_000));
}

#[test]
fn balances_are_capped_not_wrapped() {
    let mut h = Harness::new();
    h.open("a", 0);
    for index in 0..100 {
        h.ok(Command::Deposit(Movement {
            id: id(&format!("d{index}")),
            account: id("a"),
            amount: crate::constants::AMOUNT_MINOR_MAX,
        }));
    }
    assert_eq!(
        h.rejected(Command::Deposit(Movement { id: id("over"), account: id("a"), amount: 1 })),
        Rejection::Overflow
    );
    assert_eq!(
        h.rejected(Command::Deposit(Movement { id: id("huge"), account: id("a"), amount: u64::MAX })),
        Rejection::InvalidAmount
    );
}

#[test]
fn transfers_are_idempotent_and_checked() {
    let mut h = Harness::new();
    h.open("a", 0);
    h.open("b", 0);
    h.open("c", 500);
    h.deposit("a", 1_000);
    h.ok(Command::Transfer(transfer("t1", "a", "b", 300)));
    h.ok(Command::Transfer(transfer("t1", "a", "b", 300)));
    assert_eq!(h.balance("a").0, 700);
    assert_eq!(h.balance("b").0, 300);
    assert_eq!(h.rejected(Command::Transfer(transfer("t1", "a", "b", 301))), Rejection::IdReused);
    assert_eq!(h.rejected(Command::Transfer(transfer("t2", "a", "b", 701))), Rejection::InsufficientFunds);
    assert_eq!(h.rejected(Command::Transfer(transfer("t3", "a", "a", 1))), Rejection::SameAccount);
    assert_eq!(h.rejected(Command::Transfer(transfer("t4", "x", "b", 1))), Rejection::AccountNotFound);
    assert_eq!(h.rejected(Command::Transfer(transfer("t5", "a", "x", 1))), Rejection::CounterpartyNotFound);
    assert_eq!(h.rejected(Command::Transfer(transfer("t6", "a", "b", 0))), Rejection::InvalidAmount);
    h.ok(Command::OpenAccount(OpenAccount { account: id("usd"), currency: Currency::USD, overdraft_limit: 0 }));
    assert_eq!(h.rejected(Command::Transfer(transfer("t7", "a", "usd", 1))), Rejection::CurrencyMismatch);
    // Overdraft: c may go to -500 and no further.
    h.ok(Command::Transfer(transfer("t8", "c", "b", 500)));
    assert_eq!(h.balance("c"), (-500, 0, -500));
    assert_eq!(h.rejected(Command::Transfer(transfer("t9", "c", "b", 1))), Rejection::InsufficientFunds);
    // A rejected transfer is not remembered: the same id may succeed once funds arrive.
    h.deposit("a", 100);
    h.ok(Command::Transfer(transfer("t2", "a", "b", 701)));
}

#[test]
fn a_full_id_table_refuses_new_ids_changes_nothing_and_still_answers_repeats() {
    // The smallest table: 16 buckets of 3 slots. One deposit, then transfers until it is full.
    let mut h = Harness::new();
    h.machine = StateMachine::new(Config::with_ids_max(SecretKey::from_bytes(&[42; 32]), 0));
    h.open("a", 0);
    h.open("b", 0);
    h.deposit("a", 1_000);
    let mut applied = 1;
    let full = (0..100)
        .find_map(|index| match h.run(Command::Transfer(transfer(&format!("t{index}"), "a", "b", 1))) {
            Outcome::Applied(_) => {
                applied += 1;
                None
            }
            refused => Some((index, refused.rejection().expect("refused"))),
        })
        .expect("the table fills");
    assert_eq!((full.1, applied), (Rejection::IdTableFull, 48), "every slot used, then refused");
    // (the harness checked that the refusal changed nothing)
    assert_eq!(h.balance("b").0, 47);
    // Repeats of remembered ids are still answered, with their original outcome or id_reused.
    h.ok(Command::Transfer(transfer("t0", "a", "b", 1)));
    assert_eq!(h.rejected(Command::Transfer(transfer("t0", "a", "b", 2))), Rejection::IdReused);
    // Two epochs later every slot is free again.
    h.now += 2 * crate::constants::IDEMPOTENCY_WINDOW_MS;
    h.ok(Command::Transfer(transfer(&format!("t{}", full.0), "a", "b", 1)));
    assert_eq!(h.balance("b").0, 48);
}

#[test]
fn transfer_and_deposit_ids_are_remembered_for_one_window_at_least() {
    use crate::constants::IDEMPOTENCY_WINDOW_MS;
    let mut h = Harness::new();
    h.open("a", 0);
    h.open("b", 0);
    h.deposit("a", 1_000);
    let deposit = |amount| Command::Deposit(Movement { id: id("dep-w"), account: id("a"), amount });
    h.ok(deposit(100));
    h.ok(Command::Transfer(transfer("tw", "a", "b", 10)));
    // A window later (the generation turned over) the ids are still known: repeats change nothing.
    h.now += IDEMPOTENCY_WINDOW_MS;
    h.ok(Command::Transfer(transfer("tw", "a", "b", 10)));
    h.ok(deposit(100));
    assert_eq!(h.rejected(Command::Transfer(transfer("tw", "a", "b", 11))), Rejection::IdReused);
    assert_eq!(h.balance("b").0, 10);
    assert_eq!(h.balance("a").0, 1_090);
    // Another window on, they are forgotten: the same id is a new command.
    h.now += IDEMPOTENCY_WINDOW_MS;
    h.ok(Command::Transfer(transfer("tw", "a", "b", 10)));
    h.ok(deposit(100));
    assert_eq!(h.balance("b").0, 20);
    assert_eq!(h.balance("a").0, 1_180);
    // And remembered again from now on.
    h.ok(Command::Transfer(transfer("tw", "a", "b", 10)));
    assert_eq!(h.balance("b").0, 20);
    // The turnover survives a snapshot: encode, decode, same answers.
    let mut state = h.machine.state().clone();
    let restored = StateMachine::from_state(config(), State::decode_snapshot(&state.encode_snapshot()).unwrap());
    assert_eq!(restored.state(), h.machine.state());
    assert_eq!(restored.transfer_applied(&transfer("tw", "a", "b", 10)), Some(true));
}

#[test]
fn linked_batches_are_all_or_nothing() {
    let mut h = Harness::new();
    for account in ["a", "b", "c"] {
        h.open(account, 0);
    }
    h.deposit("a", 100);
    let batch = TransferBatch {
        atomic: true,
        transfers: vec![transfer("l1", "a", "b", 100), transfer("l2", "b", "c", 60), transfer("l3", "c", "a", 61)],
    };
    let events_before = h.events.len();
    // Refused as a whole, naming the transfer that failed and why.
    let outcome = h.run(Command::TransferBatch(batch));
    assert_eq!(outcome, Outcome::BatchRejected { leg: 2, rejection: Rejection::InsufficientFunds });
    assert!(!outcome.is_applied());
    assert_eq!(h.events.len(), events_before, "a failed linked batch leaves no events");
    assert_eq!((h.balance("a").0, h.balance("b").0, h.balance("c").0), (100, 0, 0));
    // The ids of a failed linked batch are free again.
    let batch = TransferBatch {
        atomic: true,
        transfers: vec![transfer("l1", "a", "b", 100), transfer("l2", "b", "c", 60), transfer("l3", "c", "a", 60)],
    };
    let Reply::TransferBatch(outcomes) = h.ok(Command::TransferBatch(batch)) else { panic!() };
    assert!(outcomes.iter().all(Outcome::is_applied));
    assert_eq!((h.balance("a").0, h.balance("b").0, h.balance("c").0), (60, 40, 0));
    // Unlinked: each stands alone.
    let batch =
        TransferBatch { atomic: false, transfers: vec![transfer("u1", "a", "b", 10), transfer("u2", "c", "a", 1)] };
    let Reply::TransferBatch(outcomes) = h.ok(Command::TransferBatch(batch)) else { panic!() };
    assert_eq!(outcomes, vec![Outcome::Applied(Reply::Done), Outcome::Rejected(Rejection::InsufficientFunds)]);
    assert_eq!(
        h.rejected(Command::TransferBatch(TransferBatch { atomic: true, transfers: vec![] })),
        Rejection::InvalidBatch
    );
}

fn hold(hold_id: &str, amount: u64, expires_at_ms: TimestampMs) -> Command {
    Command::PlaceHold(PlaceHold {
        id: id(hold_id),
        from: id("a"),
        to: id("b"),
        amount,
        currency: Currency::EUR,
        expires_at_ms,
    })
}

#[test]
fn holds_count_against_available_at_once() {
    // Blnk #181: holds not counted in the available balance.
    let mut h = Harness::new();
    h.open("a", 0);
    h.open("b", 0);
    h.deposit("a", 100);
    let expiry = h.now + 60_000;
    h.ok(hold("h1", 80, expiry));
    assert_eq!(h.balance("a"), (100, 80, 20));
    assert_eq!(h.rejected(hold("h2", 21, expiry)), Rejection::InsufficientFunds);
    assert_eq!(h.rejected(Command::Transfer(transfer("t", "a", "b", 21))), Rejection::InsufficientFunds);
    assert_eq!(
        h.rejected(Command::Withdraw(Movement { id: id("w"), account: id("a"), amount: 21 })),
        Rejection::InsufficientFunds
    );
    assert_eq!(h.rejected(Command::CloseAccount { account: id("a") }), Rejection::AccountNotEmpty);
}

#[test]
fn rejected_holds_can_never_be_captured() {
    // Blnk #182: a rejected hold later committed.
    let mut h = Harness::new();
    h.open("a", 0);
    h.open("b", 0);
    h.deposit("a", 10);
    let expiry = h.now + 60_000;
    assert_eq!(h.rejected(hold("h1", 11, expiry)), Rejection::InsufficientFunds);
    h.deposit("a", 100);
    assert_eq!(h.rejected(Command::CaptureHold(CaptureHold { hold: id("h1"), amount: 11 })), Rejection::HoldNotFound);
    assert_eq!(h.rejected(Command::VoidHold { hold: id("h1") }), Rejection::HoldNotFound);
    assert_eq!(h.balance("b").0, 0);
}

#[test]
fn holds_resolve_at_most_once() {
    // Blnk #171: racing commits. Commands apply one at a time, so the second capture in the
    // same batch sees the first one's result.
    let mut h = Harness::new();
    h.open("a", 0);
    h.open("b", 0);
    h.deposit("a", 100);
    let expiry = h.now + 60_000;
    h.ok(hold("h1", 80, expiry));
    let captures = [
        Command::CaptureHold(CaptureHold { hold: id("h1"), amount: 50 }),
        Command::CaptureHold(CaptureHold { hold: id("h1"), amount: 80 }),
        Command::VoidHold { hold: id("h1") },
    ];
    let mut output = CommitOutput::default();
    let captures = captures.map(Submission::admin);
    h.machine.commit(h.now, &captures, &mut output);
    h.machine.check_invariants();
    assert_eq!(output.outcomes[0], Outcome::Applied(Reply::Captured { captured: 50, released: 30 }));
    assert_eq!(output.outcomes[1], Outcome::Rejected(Rejection::HoldAlreadyResolved));
    assert_eq!(output.outcomes[2], Outcome::Rejected(Rejection::HoldAlreadyResolved));
    assert_eq!(h.balance("a"), (50, 0, 50));
    assert_eq!(h.balance("b").0, 50);
    // A retry of the same capture answers the same.
    assert_eq!(
        h.ok(Command::CaptureHold(CaptureHold { hold: id("h1"), amount: 50 })),
        Reply::Captured { captured: 50, released: 30 }
    );
    assert_eq!(h.balance("b").0, 50);
}

#[test]
fn holds_capture_partly_void_and_expire() {
    let mut h = Harness::new();
    h.open("a", 0);
    h.open("b", 0);
    h.deposit("a", 1_000);
    let expiry = h.now + 60_000;
    h.ok(hold("h1", 100, expiry));
    assert_eq!(h.rejected(Command::CaptureHold(CaptureHold { hold: id("h1"), amount: 101 })), Rejection::ExceedsHold);
    assert_eq!(h.rejected(Command::CaptureHold(CaptureHold { hold: id("h1"), amount: 0 })), Rejection::InvalidAmount);
    h.ok(hold("h2", 200, expiry));
    h.ok(Command::VoidHold { hold: id("h2") });
    h.ok(Command::VoidHold { hold: id("h2") });
    assert_eq!(
        h.rejected(Command::CaptureHold(CaptureHold { hold: id("h2"), amount: 1 })),
        Rejection::HoldAlreadyResolved
    );
    assert_eq!(h.balance("a"), (1_000, 100, 900));
    assert_eq!(h.rejected(hold("h3", 1, h.now)), Rejection::InvalidExpiry);
    assert_eq!(h.rejected(hold("h3", 1, h.now + crate::constants::HOLD_TTL_MS_MAX + 1)), Rejection::InvalidExpiry);
    assert_eq!(h.rejected(hold("h1", 5, expiry)), Rejection::IdReused);
    // Past its expiry a hold cannot be captured even before the tick; the tick releases it.
    h.now = expiry;
    assert_eq!(h.rejected(Command::CaptureHold(CaptureHold { hold: id("h1"), amount: 100 })), Rejection::Expired);
    assert_eq!(h.ok(Command::Tick), Reply::Ticked { expired: 1 });
    assert_eq!(h.balance("a"), (1_000, 0, 1_000));
    assert_eq!(h.machine.hold(&id("h1")).unwrap().state, HoldState::Expired);
    assert_eq!(h.ok(Command::Tick), Reply::Ticked { expired: 0 });
}

pub(crate) fn authorize(authorization: &str, limit: u64, expires_at_ms: TimestampMs, nonce: u64) -> Command {
    Command::Authorize(Authorize {
        id: id(authorization),
        user: id("u1"),
        account: id("a"),
        limit,
        expires_at_ms,
        nonce,
    })
}

pub(crate) fn settle(settlement: &str, code: &str, amount: u64) -> Command {
    Command::SettlePos(SettlePos {
        id: id(settlement),
        user: id("u1"),
        code: code.to_string(),
        amount,
        currency: Currency::EUR,
        terminal: id("t1"),
        coupon: None,
        hold_until_ms: None,
        location: None,
    })
}

/// `settle`, as an ISO 8583 0100 pre-authorization: it only holds, until `until`.
pub(crate) fn settle_held(settlement: &str, code: &str, amount: u64, until: TimestampMs) -> Command {
    let mut command = settle(settlement, code, amount);
    if let Command::SettlePos(settle) = &mut command {
        settle.hold_until_ms = Some(until);
    }
    command
}

pub(crate) fn code_of(reply: Reply) -> String {
    let Reply::Authorized { code, .. } = reply else { panic!("{reply:?}") };
    code
}

#[test]
fn pos_settles_once_with_a_secure_code() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 10_000);
    let expiry = h.now + 3_600_000;
    let code = code_of(h.ok(authorize("au1", 5_000, expiry, 7)));
    assert_eq!(code.len(), 8);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    // Idempotent authorize: same code again; the engine stored only a keyed hash.
    assert_eq!(code_of(h.ok(authorize("au1", 5_000, expiry, 7))), code);
    assert_eq!(h.rejected(authorize("au1", 5_001, expiry, 7)), Rejection::IdReused);
    let reply = h.ok(settle("s1", &code, 4_000));
    let Reply::Settled { approval_code, charged, discount } = reply.clone() else { panic!() };
    assert_eq!((approval_code.len(), charged, discount), (6, 4_000, 0));
    assert_eq!(h.balance("a").0, 6_000);
    assert_eq!(h.balance("shop").0, 4_000);
    // The POS retries: same answer, charged once.
    assert_eq!(h.ok(settle("s1", &code, 4_000)), reply);
    assert_eq!(h.balance("a").0, 6_000);
    assert_eq!(h.rejected(settle("s1", &code, 4_001)), Rejection::IdReused);
    // Single use.
    assert_eq!(h.rejected(settle("s2", &code, 10)), Rejection::CodeAlreadyUsed);
}

#[test]
fn a_revoked_code_is_refused_and_a_used_one_cannot_be_revoked() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 10_000);
    let expiry = h.now + 3_600_000;
    let revoke = |authorization: &str| Command::RevokeAuthorization { authorization: id(authorization) };
    let lost = code_of(h.ok(authorize("au1", 5_000, expiry, 1)));
    assert_eq!(h.ok(revoke("au1")), Reply::Done);
    assert_eq!(h.machine.authorization(&id("au1")).unwrap().state, AuthorizationState::Revoked);
    assert_eq!(h.ok(revoke("au1")), Reply::Done, "idempotent");
    // The lost phone's code no longer pays, and counts as no wrong guess either.
    assert_eq!(h.rejected(settle("s1", &lost, 100)), Rejection::CodeRevoked);
    assert_eq!(h.balance("a").0, 10_000);
    // A tick does not expire it again (it left the expiry index).
    h.now = expiry;
    assert_eq!(h.ok(Command::Tick), Reply::Ticked { expired: 0 });
    let used = code_of(h.ok(authorize("au2", 5_000, h.now + 60_000, 2)));
    h.ok(settle("s2", &used, 100));
    assert_eq!(h.rejected(revoke("au2")), Rejection::CodeAlreadyUsed);
    assert_eq!(h.rejected(revoke("nope")), Rejection::AuthorizationNotFound);
}

#[test]
fn pos_checks_limit_window_funds_and_terminal() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 1_000);
    let expiry = h.now + 3_600_000;
    let code = code_of(h.ok(authorize("au1", 5_000, expiry, 1)));
    assert_eq!(h.rejected(settle("s1", &code, 5_001)), Rejection::ExceedsLimit);
    assert_eq!(h.rejected(settle("s2", &code, 2_000)), Rejection::InsufficientFunds);
    let mut wrong_terminal = settle("s3", &code, 10);
    if let Command::SettlePos(settle) = &mut wrong_terminal {
        settle.terminal = id("nope");
    }
    assert_eq!(h.rejected(wrong_terminal), Rejection::TerminalNotFound);
    // Still usable after those refusals.
    h.ok(settle("s4", &code, 1_000));
    let code = code_of(h.ok(authorize("au2", 5_000, expiry, 2)));
    h.now = expiry;
    assert_eq!(h.rejected(settle("s5", &code, 1)), Rejection::Expired);
    assert_eq!(h.ok(Command::Tick), Reply::Ticked { expired: 1 });
    assert_eq!(h.machine.authorization(&id("au2")).unwrap().state, AuthorizationState::Expired);
    assert_eq!(h.rejected(authorize("au3", 1, h.now, 3)), Rejection::InvalidExpiry);
    assert_eq!(
        h.rejected(Command::Authorize(Authorize {
            id: id("au4"),
            user: id("u1"),
            account: id("zz"),
            limit: 1,
            expires_at_ms: expiry + 10,
            nonce: 4
        })),
        Rejection::AccountNotFound
    );
}

#[test]
fn wrong_codes_lock_the_user_out() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 1_000);
    let code = code_of(h.ok(authorize("au1", 500, h.now + 3_600_000, 1)));
    let wrong = if code == "00000000" { "00000001" } else { "00000000" };
    for attempt in 0..crate::constants::CODE_FAILURES_MAX {
        assert_eq!(h.rejected(settle(&format!("bad{attempt}"), wrong, 10)), Rejection::IncorrectCode);
    }
    assert_eq!(h.rejected(settle("bad-x", "not-digits", 10)), Rejection::CodeTriesExceeded);
    // Even the right code is refused during the lockout...
    assert_eq!(h.rejected(settle("good", &code, 10)), Rejection::CodeTriesExceeded);
    let failures = h.events.iter().filter(|event| matches!(event, Event::CodeRejected { .. })).count();
    assert_eq!(failures, crate::constants::CODE_FAILURES_MAX as usize);
    // ...and accepted after it.
    h.now += crate::constants::CODE_FAILURE_WINDOW_MS;
    h.ok(settle("good2", &code, 10));
    assert_eq!(h.balance("a").0, 990);
}

#[test]
fn a_tick_forgets_the_wrong_code_windows_that_ended() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    let code = code_of(h.ok(authorize("au1", 500, h.now + 3_600_000, 1)));
    let wrong = if code == "00000000" { "00000001" } else { "00000000" };
    assert_eq!(h.rejected(settle("bad", wrong, 10)), Rejection::IncorrectCode);
    h.ok(Command::Tick);
    assert_eq!(h.machine.state().code_failures.len(), 1, "a window still running is kept");
    h.now += crate::constants::CODE_FAILURE_WINDOW_MS;
    h.ok(Command::Tick);
    assert!(h.machine.state().code_failures.is_empty() && h.machine.state().code_failure_expiry.is_empty());
}

#[test]
fn the_same_batches_give_the_same_state() {
    let script = |h: &mut Harness| {
        h.merchant();
        h.open("a", 100);
        h.open("b", 0);
        h.deposit("a", 5_000);
        h.run(Command::Transfer(transfer("t1", "a", "b", 1_000)));
        h.run(hold("h1", 700, h.now + 10));
        let code = code_of(h.ok(authorize("au1", 900, h.now + 100, 3)));
        h.run(settle("s1", &code, 800));
        h.now += 50;
        h.run(Command::Tick);
    };
    let (mut left, mut right) = (Harness::new(), Harness::new());
    script(&mut left);
    script(&mut right);
    assert_eq!(left.events, right.events);
    assert!(left.machine.state() == right.machine.state());
    let bytes = crate::codec::encode(left.machine.state());
    let mut decoded: State = crate::codec::decode(&bytes).unwrap();
    // The list indexes are not stored: they are derived again (as a snapshot's decoding does).
    decoded.derive_indexes();
    assert!(decoded == *left.machine.state(), "state survives the codec");
}

#[test]
fn history_is_built_from_postings() {
    let mut h = Harness::new();
    h.open("a", 0);
    h.open("b", 0);
    h.deposit("a", 500);
    h.run(Command::Transfer(transfer("t1", "a", "b", 200)));
    let mut history = crate::history::History::default();
    history.record(h.now, &h.events);
    let lines: Vec<(i64, i64)> =
        history.of(&id("a")).iter().map(|e| (e.posting.posted_delta, e.posting.posted_after)).collect();
    assert_eq!(lines, vec![(500, 500), (-200, 300)]);
    assert_eq!(history.of(&id("b")).len(), 1);
}

#[test]
fn pos_authorization_holds_can_be_captured_and_reversed() {
    let mut h = Harness::new();
    h.merchant();
    h.open("a", 0);
    h.deposit("a", 10_000);
    let code = code_of(h.ok(authorize("au1", 5_000, h.now + 3_600_000, 1)));
    let Reply::Settled { charged, .. } = h.ok(settle_held("pos-hold", &code, 3_000, h.now + 60_000)) else { panic!() };
    assert_eq!(charged, 3_000);
    assert_eq!(h.balance("a"), (10_000, 3_000, 7_000), "an 0100 authorization only holds");
    assert_eq!(
        h.ok(Command::CaptureHold(CaptureHold { hold: id("pos-hold"), amount: 2_500 })),
        Reply::Captured { captured: 2_500, released: 500 }
    );
    assert_eq!(h.balance("shop").0, 2_500);
    // Reversal refunds what was captured, once.
    h.ok(Command::ReversePos { settlement: id("pos-hold") });
    h.ok(Command::ReversePos { settlement: id("pos-hold") });
    assert_eq!((h.balance("a").0, h.balance("shop").0), (10_000, 0));
    // A direct charge is refunded; a declined one cannot be reversed.
    let code = code_of(h.ok(authorize("au2", 5_000, h.now + 3_600_000, 2)));
    h.ok(settle("pos-2", &code, 1_000));
    assert_eq!(h.balance("a").0, 9_000);
    h.ok(Command::ReversePos { settlement: id("pos-2") });
    assert_eq!(h.balance("a").0, 10_000);
    assert_eq!(h.rejected(settle("pos-3", "00000000", 1)), Rejection::IncorrectCode);
    assert_eq!(h.rejected(Command::ReversePos { settlement: id("pos-3") }), Rejection::NotReversible);
    assert_eq!(h.rejected(Command::ReversePos { settlement: id("nope") }), Rejection::SettlementNotFound);
    // Reversing an authorization hold before capture voids it.
    let code = code_of(h.ok(authorize("au3", 5_000, h.now + 3_600_000, 3)));
    h.ok(settle_held("pos-hold-2", &code, 400, h.now + 60_000));
    assert_eq!(h.balance("a").1, 400);
    h.ok(Command::ReversePos { settlement: id("pos-hold-2") });
    assert_eq!(h.balance("a"), (10_000, 0, 10_000));
}
