//! The state machine (`kassa_engine::StateMachine`) fed arbitrary command sequences.
//!
//! The input drives a generator (libFuzzer's `arbitrary::Unstructured`) that builds up to
//! `BATCHES_MAX` batches of every kind of command over a small id space (7 accounts, 4 users, 2
//! merchants, 3 terminals, 2 operators, 6 object ids shared by every kind), with boundary
//! amounts (current balances among them, so accounts can be emptied and closed; now and then
//! a burst of the largest deposits, to reach the balance limit), times and sizes, and `now`
//! advancing (sometimes not at all, sometimes backwards, sometimes by days). Secure codes, bill
//! challenges and coupon codes the machine answered are fed back, so settlements, confirmations
//! and redemptions succeed too. After a fixed setup batch (accounts, deposits, merchants,
//! terminals, operators, contacts), each batch is committed and then checked:
//!
//! - one outcome per command, `now` monotonic, and `check_invariants` (conservation per currency,
//!   overdraft limits, held = sum of active holds);
//! - an atomic transfer batch applies all of its transfers or none; no hold is resolved twice;
//! - the batch survives the kassa codec (the write-ahead log stores batches);
//! - when the input asks, the batch's first applied idempotent commands (deposits, withdrawals,
//!   transfers, holds, account openings) are committed again: same outcome, no event, no change
//!   of state.
//!
//! At the end, the same batches replayed into a fresh machine give identical outcomes, events and
//! state; and a snapshot taken after a chosen batch (the state through the codec) plus the
//! batches after it gives the same again, which is what recovery does. Every machine starts from
//! the setup's state decoded from the codec, so each has its own hash map seeds (no decision may
//! depend on iteration order).

#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use kassa_engine::command::*;
use kassa_engine::constants::{
    AMOUNT_MINOR_MAX, BALANCE_MINOR_MAX, BILL_ITEM_QUANTITY_MAX, COUPON_ADJUSTMENTS_MAX, HOLD_TTL_MS_MAX,
    SPLIT_MEMBERS_MAX, TRANSFER_BATCH_MAX,
};
use kassa_engine::state_machine::State;
use kassa_engine::types::GeoPoint;
use kassa_engine::{CommitOutput, Config, Currency, Id, SecretKey, StateMachine, codec};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

const START_MS: u64 = 1_700_000_000_000;
const BATCHES_MAX: usize = 32;
const BATCH_LEN_MAX: usize = 16;
/// Most idempotent commands of one batch committed again.
const REPEATS_MAX: usize = 4;

const ACCOUNTS: [&str; 7] = ["a0", "a1", "a2", "a3", "a4", "a5", "a6"];
const USERS: [&str; 4] = ["u0", "u1", "u2", "u3"];
const MERCHANTS: [&str; 2] = ["m0", "m1"];
const TERMINALS: [&str; 3] = ["t0", "t1", "t2"];
const OPERATORS: [&str; 2] = ["o0", "o1"];
const OBJECTS: [&str; 6] = ["x0", "x1", "x2", "x3", "x4", "x5"];
const APPS: [&str; 2] = ["app0", "app1"];

fn id(text: &str) -> Id {
    Id::new(text).expect("valid id")
}

fn config() -> Config {
    Config::with_ids_max(SecretKey::from_bytes(&[0x4b; 32]), 4_096)
}

/// Accounts a0..a3, a5 and a6 in EUR (a5 with an overdraft), a4 in JPY, 10,000 on each but a2;
/// two merchants with a terminal and an operator each (t2 is never registered here); two
/// contacts.
fn setup() -> Vec<Command> {
    let mut batch = Vec::new();
    for (index, account) in ACCOUNTS.iter().enumerate() {
        let currency = if index == 4 { Currency::JPY } else { Currency::EUR };
        let overdraft_limit = if index == 5 { 1_000 } else { 0 };
        batch.push(Command::OpenAccount(OpenAccount { account: id(account), currency, overdraft_limit }));
        if index != 2 {
            batch.push(Command::Deposit(Movement {
                id: id(&format!("d{index}")),
                account: id(account),
                amount: 10_000,
            }));
        }
    }
    batch.push(Command::RegisterMerchant(RegisterMerchant { merchant: id("m0"), account: id("a3") }));
    batch.push(Command::RegisterMerchant(RegisterMerchant { merchant: id("m1"), account: id("a4") }));
    batch.push(Command::RegisterTerminal(RegisterTerminal {
        terminal: id("t0"),
        merchant: id("m0"),
        mac_key: None,
        location: None,
    }));
    batch.push(Command::RegisterTerminal(RegisterTerminal {
        terminal: id("t1"),
        merchant: id("m1"),
        mac_key: Some(vec![7; 16]),
        location: Some(GeoPoint { latitude_e6: 48_856_600, longitude_e6: 2_352_200 }),
    }));
    batch.push(Command::RegisterOperator(RegisterOperator { operator: id("o0"), merchant: id("m0") }));
    batch.push(Command::RegisterOperator(RegisterOperator { operator: id("o1"), merchant: id("m1") }));
    batch.push(Command::AddContact(AddContact { user: id("u0"), contact: id("u1") }));
    batch.push(Command::AddContact(AddContact { user: id("u1"), contact: id("u2") }));
    batch
}

/// Builds commands from the fuzzer's bytes; `codes` and `ids` are what the machine answered.
struct Generator<'a, 'b> {
    u: &'b mut Unstructured<'a>,
    now: u64,
    codes: &'b [String],
    ids: &'b [Id],
    balances: &'b [u64],
    /// Deposits made by bursts so far (their ids are unique).
    bursts: &'b mut u32,
}

impl Generator<'_, '_> {
    fn pick(&mut self, names: &[&str]) -> Result<Id> {
        Ok(id(names[self.u.choose_index(names.len())?]))
    }

    fn account(&mut self) -> Result<Id> {
        self.pick(&ACCOUNTS)
    }

    fn user(&mut self) -> Result<Id> {
        self.pick(&USERS)
    }

    fn object(&mut self) -> Result<Id> {
        self.pick(&OBJECTS)
    }

    fn coupon(&mut self) -> Result<Id> {
        if !self.ids.is_empty() && self.u.ratio(1, 4)? {
            return Ok(self.ids[self.u.choose_index(self.ids.len())?].clone());
        }
        self.object()
    }

    fn amount(&mut self) -> Result<u64> {
        Ok(match self.u.int_in_range(0..=9)? {
            0 => 0,
            1 => AMOUNT_MINOR_MAX,
            2 => AMOUNT_MINOR_MAX + 1,
            3 => self.u.arbitrary()?,
            4 | 5 => self.u.int_in_range(1..=20_000)?,
            6 => self.balances[self.u.choose_index(self.balances.len())?],
            7 => 10_000,
            _ => self.u.int_in_range(1..=500)?,
        })
    }

    fn currency(&mut self) -> Result<Currency> {
        Ok(match self.u.int_in_range(0..=7)? {
            0 => Currency::JPY,
            1 => Currency::USD,
            2 => Currency::KWD,
            _ => Currency::EUR,
        })
    }

    /// An instant around now: soon, at a TTL limit, in the past, or anything.
    fn time(&mut self) -> Result<u64> {
        Ok(match self.u.int_in_range(0..=9)? {
            0 => self.now.saturating_sub(self.u.int_in_range(0..=60_000)?),
            1 => self.now + HOLD_TTL_MS_MAX + u64::from(self.u.arbitrary::<bool>()?),
            2 => self.u.arbitrary()?,
            3 => self.now + self.u.int_in_range(0..=40 * 24 * 3_600_000)?,
            _ => self.now + self.u.int_in_range(1..=120_000)?,
        })
    }

    fn code(&mut self) -> Result<String> {
        if !self.codes.is_empty() && self.u.ratio(3, 4)? {
            return Ok(self.codes[self.u.choose_index(self.codes.len())?].clone());
        }
        Ok(match self.u.int_in_range(0..=3)? {
            0 => String::new(),
            1 => "0".repeat(usize::from(self.u.int_in_range(1..=20u8)?)),
            2 => format!("{:08}", self.u.int_in_range(0..=99_999_999u32)?),
            _ => self.u.arbitrary()?,
        })
    }

    fn point(&mut self) -> Result<Option<GeoPoint>> {
        if self.u.arbitrary()? {
            return Ok(None);
        }
        let (latitude_e6, longitude_e6) = match self.u.int_in_range(0..=2)? {
            0 => (self.u.arbitrary()?, self.u.arbitrary()?),
            _ => (self.u.int_in_range(-1_000..=1_000)?, self.u.int_in_range(-1_000..=1_000)?),
        };
        Ok(Some(GeoPoint { latitude_e6, longitude_e6 }))
    }

    fn decimal(&mut self) -> Result<Decimal> {
        Ok(match self.u.int_in_range(0..=5)? {
            0 => Decimal::from_i128_with_scale(self.u.int_in_range(-(1i128 << 95)..=(1i128 << 95))?, 0),
            1 => Decimal::new(self.u.arbitrary()?, self.u.int_in_range(0..=28)?),
            2 => Decimal::MAX,
            _ => Decimal::new(self.u.int_in_range(-10..=1_500)?, self.u.int_in_range(0..=2)?),
        })
    }

    fn rule(&mut self) -> Result<DeductionRule> {
        let kind = match self.u.int_in_range(0..=2)? {
            0 => DeductionKind::PercentOff {
                percent: self.decimal()?,
                cap: if self.u.arbitrary()? { Some(self.amount()?) } else { None },
            },
            1 => DeductionKind::FixedOff { amount: self.amount()? },
            _ => DeductionKind::SpendSave { threshold: self.amount()?, save: self.amount()? },
        };
        let min_spend = if self.u.ratio(1, 3)? { self.amount()? } else { 0 };
        Ok(DeductionRule { kind, min_spend })
    }

    fn adjustment(&mut self) -> Result<ValueAdjustment> {
        let condition = if self.u.arbitrary()? {
            AdjustmentCondition::TimeWindow { from_ms: self.time()?, until_ms: self.time()? }
        } else {
            let center = self.point()?.unwrap_or(GeoPoint { latitude_e6: 0, longitude_e6: 0 });
            AdjustmentCondition::Location { center, radius_m: self.u.arbitrary()? }
        };
        let factor_percent = if self.u.arbitrary()? { self.u.arbitrary()? } else { self.u.int_in_range(0..=300)? };
        Ok(ValueAdjustment { condition, factor_percent })
    }

    fn transfer(&mut self) -> Result<Transfer> {
        Ok(Transfer {
            id: self.object()?,
            from: self.account()?,
            to: self.account()?,
            amount: self.amount()?,
            currency: self.currency()?,
        })
    }

    fn command(&mut self) -> Result<Command> {
        Ok(match self.u.choose_index(32)? {
            0 => Command::OpenAccount(OpenAccount {
                account: self.account()?,
                currency: self.currency()?,
                overdraft_limit: if self.u.arbitrary()? { 0 } else { self.amount()? },
            }),
            1 => Command::CloseAccount { account: self.account()? },
            2 => Command::Deposit(Movement { id: self.object()?, account: self.account()?, amount: self.amount()? }),
            3 => Command::Withdraw(Movement { id: self.object()?, account: self.account()?, amount: self.amount()? }),
            4 | 5 => Command::Transfer(self.transfer()?),
            6 => {
                let count = match self.u.int_in_range(0..=15)? {
                    0 => TRANSFER_BATCH_MAX + 1,
                    n => n % 6,
                };
                let mut transfers = Vec::with_capacity(count);
                for _ in 0..count {
                    transfers.push(self.transfer()?);
                }
                Command::TransferBatch(TransferBatch { atomic: self.u.arbitrary()?, transfers })
            }
            7 => Command::PlaceHold(PlaceHold {
                id: self.object()?,
                from: self.account()?,
                to: self.account()?,
                amount: self.amount()?,
                currency: self.currency()?,
                expires_at_ms: self.time()?,
            }),
            8 => Command::CaptureHold(CaptureHold { hold: self.object()?, amount: self.amount()? }),
            9 => Command::VoidHold { hold: self.object()? },
            10 => Command::RegisterMerchant(RegisterMerchant {
                merchant: self.pick(&MERCHANTS)?,
                account: self.account()?,
            }),
            11 => Command::RegisterTerminal(RegisterTerminal {
                terminal: self.pick(&TERMINALS)?,
                merchant: self.pick(&MERCHANTS)?,
                mac_key: if self.u.arbitrary()? { None } else { Some(self.u.arbitrary()?) },
                location: self.point()?,
            }),
            12 => Command::RegisterOperator(RegisterOperator {
                operator: self.pick(&OPERATORS)?,
                merchant: self.pick(&MERCHANTS)?,
            }),
            13 => Command::Authorize(Authorize {
                id: self.object()?,
                user: self.user()?,
                account: self.account()?,
                limit: self.amount()?,
                expires_at_ms: self.time()?,
                nonce: self.u.arbitrary()?,
            }),
            14 | 15 => Command::SettlePos(SettlePos {
                id: self.object()?,
                user: self.user()?,
                code: self.code()?,
                amount: self.amount()?,
                currency: self.currency()?,
                terminal: self.pick(&TERMINALS)?,
                coupon: if self.u.arbitrary()? { None } else { Some(self.coupon()?) },
                hold_until_ms: if self.u.arbitrary()? { None } else { Some(self.time()?) },
                location: None,
            }),
            16 => Command::ReversePos { settlement: self.object()? },
            17 => Command::OpenBill(OpenBill {
                bill: self.object()?,
                user: self.user()?,
                account: self.account()?,
                merchant: self.pick(&MERCHANTS)?,
                opens_at_ms: if self.u.arbitrary()? { self.now } else { self.time()? },
                closes_at_ms: self.time()?,
            }),
            18 => Command::AddBillItem(AddBillItem {
                bill: self.object()?,
                terminal: self.pick(&TERMINALS)?,
                item_ref: if self.u.arbitrary()? { "sku".into() } else { self.u.arbitrary()? },
                quantity: match self.u.int_in_range(0..=5)? {
                    0 => 0,
                    1 => BILL_ITEM_QUANTITY_MAX + 1,
                    2 => self.u.arbitrary()?,
                    _ => self.u.int_in_range(1..=5)?,
                },
                unit_amount: self.amount()?,
            }),
            19 => Command::SubmitBill(SubmitBill { bill: self.object()?, nonce: self.u.arbitrary()? }),
            20 => Command::ConfirmBill(ConfirmBill {
                bill: self.object()?,
                challenge: self.code()?,
                coupon: if self.u.arbitrary()? { None } else { Some(self.coupon()?) },
                location: None,
            }),
            21 => Command::CancelBill { bill: self.object()? },
            22 => {
                let count = match self.u.int_in_range(0..=15)? {
                    0 => SPLIT_MEMBERS_MAX + 1,
                    n => n % 5,
                };
                let mut members = Vec::with_capacity(count);
                for _ in 0..count {
                    members.push(SplitMember { user: self.user()?, account: self.account()? });
                }
                let shares = if self.u.arbitrary()? {
                    SplitShares::Equal
                } else {
                    let mut shares = Vec::new();
                    for _ in 0..self.u.int_in_range(0..=5)? {
                        shares.push(self.amount()?);
                    }
                    SplitShares::Explicit(shares)
                };
                Command::RequestSplit(RequestSplit {
                    split: self.object()?,
                    requester: self.user()?,
                    requester_account: self.account()?,
                    total: self.amount()?,
                    currency: self.currency()?,
                    members,
                    shares,
                    expires_at_ms: self.time()?,
                })
            }
            23 => Command::PaySplitShare(PaySplitShare { split: self.object()?, member: self.user()? }),
            24 => Command::CancelSplit { split: self.object()? },
            25 => Command::AddContact(AddContact { user: self.user()?, contact: self.user()? }),
            26 => {
                let mut adjustments = Vec::new();
                let count = match self.u.int_in_range(0..=7)? {
                    0 => COUPON_ADJUSTMENTS_MAX + 1,
                    n => n % 3,
                };
                for _ in 0..count {
                    adjustments.push(self.adjustment()?);
                }
                Command::IssueCoupon(IssueCoupon {
                    coupon: self.coupon()?,
                    merchant: self.pick(&MERCHANTS)?,
                    holder: self.user()?,
                    currency: self.currency()?,
                    rule: self.rule()?,
                    adjustments,
                    valid_from_ms: if self.u.arbitrary()? { self.now } else { self.time()? },
                    valid_until_ms: self.time()?,
                    reward: if self.u.arbitrary()? { None } else { Some(self.rule()?) },
                    nonce: self.u.arbitrary()?,
                })
            }
            27 => Command::ShareCoupon(ShareCoupon { coupon: self.coupon()?, user: self.user()? }),
            28 => Command::ClaimCoupon(ClaimCoupon {
                coupon: self.coupon()?,
                claimer: self.user()?,
                nonce: self.u.arbitrary()?,
            }),
            29 => Command::RedeemCoupon(RedeemCoupon {
                id: self.object()?,
                operator: self.pick(&OPERATORS)?,
                code: self.code()?,
                amount: self.amount()?,
                location: self.point()?,
            }),
            30 => match self.u.int_in_range(0..=3)? {
                3 => Command::RefundSplit { split: self.object()? },
                0 => Command::RevokeAuthorization { authorization: self.object()? },
                1 => Command::RefundPos(Refund { of: self.object()?, refund: self.object()?, amount: self.amount()? }),
                _ => Command::RefundBill(Refund { of: self.object()?, refund: self.object()?, amount: self.amount()? }),
            },
            _ => match self.u.int_in_range(0..=3)? {
                0 => Command::RegisterApiKey(RegisterApiKey {
                    key_id: self.object()?,
                    role: match self.u.int_in_range(0..=4)? {
                        0 => Principal::Admin,
                        1 => Principal::Merchant(self.pick(&MERCHANTS)?),
                        2 => Principal::Operator(self.pick(&OPERATORS)?),
                        3 => Principal::Terminal(self.pick(&TERMINALS)?),
                        _ => Principal::App(self.object()?),
                    },
                    secret_hash: self.u.arbitrary()?,
                }),
                1 => Command::RevokeApiKey { key_id: self.object()? },
                _ => Command::Tick,
            },
        })
    }

    /// Who sends a command: mostly the admin, else any tenant (the engine decides what each may).
    fn principal(&mut self) -> Result<Principal> {
        Ok(match self.u.int_in_range(0..=7u8)? {
            0 => Principal::App(self.pick(&APPS)?),
            1 => Principal::Merchant(self.pick(&MERCHANTS)?),
            2 => Principal::Operator(self.pick(&OPERATORS)?),
            3 => Principal::Terminal(self.pick(&TERMINALS)?),
            _ => Principal::Admin,
        })
    }

    /// The next batch: its `now`, its commands with their senders, and whether to repeat its
    /// idempotent commands.
    fn batch(&mut self) -> Result<(u64, Vec<Submission>, bool)> {
        self.now = self.advance()?;
        let length = self.u.int_in_range(1..=BATCH_LEN_MAX)?;
        let mut batch = Vec::with_capacity(length);
        for _ in 0..length {
            // Rare, once a run, and never when the input has run out (`Unstructured` then answers 0).
            if *self.bursts == 0 && self.u.int_in_range(0..=63u8)? == 63 {
                self.burst(&mut batch)?;
            } else {
                let principal = self.principal()?;
                batch.push(Submission::new(principal, self.command()?));
            }
        }
        Ok((self.now, batch, self.u.ratio(1, 4)?))
    }

    /// Enough deposits of `AMOUNT_MINOR_MAX` to take an account to the balance limit.
    fn burst(&mut self, batch: &mut Vec<Submission>) -> Result<()> {
        let account = self.account()?;
        for _ in 0..BALANCE_MINOR_MAX.unsigned_abs() / AMOUNT_MINOR_MAX {
            *self.bursts += 1;
            let id = id(&format!("burst{}", self.bursts));
            let deposit = Command::Deposit(Movement { id, account: account.clone(), amount: AMOUNT_MINOR_MAX });
            batch.push(Submission::admin(deposit));
        }
        Ok(())
    }

    /// The clock for the next batch: unchanged, a little or a lot later, or earlier.
    fn advance(&mut self) -> Result<u64> {
        Ok(match self.u.int_in_range(0..=9)? {
            0 => self.now,
            1 => self.now.saturating_sub(self.u.int_in_range(1..=10_000)?),
            2 => self.now + self.u.int_in_range(0..=45 * 24 * 3_600_000)?,
            3 => self.now + 15 * 60_000,
            _ => self.now + self.u.int_in_range(1..=5_000)?,
        })
    }
}

/// One committed batch, with what it produced.
struct Step {
    now: u64,
    batch: Vec<Submission>,
    output: CommitOutput,
}

/// Commits `batch` at `now` and checks what holds after every batch.
fn commit(machine: &mut StateMachine, now: u64, batch: Vec<Submission>, steps: &mut Vec<Step>) {
    let before = machine.state_now_ms();
    let mut output = CommitOutput::default();
    machine.commit(now, &batch, &mut output);
    assert_eq!(output.outcomes.len(), batch.len(), "one outcome per command");
    assert_eq!(machine.state_now_ms(), before.max(now), "time is monotonic");
    machine.check_invariants();
    for (command, outcome) in batch.iter().map(|submission| &submission.command).zip(&output.outcomes) {
        if let (Command::TransferBatch(transfers), Outcome::Applied(Reply::TransferBatch(outcomes))) =
            (command, outcome)
        {
            assert_eq!(outcomes.len(), transfers.transfers.len(), "one outcome per transfer");
            if transfers.atomic {
                let applied = outcomes.iter().filter(|outcome| outcome.is_applied()).count();
                assert!(applied == 0 || applied == outcomes.len(), "an atomic batch applied in part: {outcomes:?}");
            }
        }
    }
    let decoded: Vec<Submission> = codec::decode(&codec::encode(&batch)).expect("a batch decodes");
    assert_eq!(decoded, batch, "a batch survives the codec");
    steps.push(Step { now, batch, output });
}

/// Commits again, alone, the first `REPEATS_MAX` applied commands of the last step that must be
/// idempotent.
fn replay_idempotent(machine: &mut StateMachine, steps: &mut Vec<Step>) {
    let last = steps.last().expect("a step");
    let (now, replayable): (u64, Vec<(Submission, Outcome)>) = (
        last.now,
        last.batch
            .iter()
            .zip(&last.output.outcomes)
            .filter(|(submission, outcome)| {
                outcome.is_applied()
                    && matches!(
                        submission.command,
                        Command::Deposit(_)
                            | Command::Withdraw(_)
                            | Command::Transfer(_)
                            | Command::PlaceHold(_)
                            | Command::OpenAccount(_)
                    )
            })
            .map(|(command, outcome)| (command.clone(), outcome.clone()))
            .take(REPEATS_MAX)
            .collect(),
    );
    if replayable.is_empty() {
        return;
    }
    let before: State = machine.state().after_unchanged_records(replayable.len() as u64);
    for (command, outcome) in &replayable {
        commit(machine, now, vec![command.clone()], steps);
        let replay = &steps.last().expect("just committed").output;
        assert_eq!(replay.outcomes[0], *outcome, "a repeat answers as the original: {command:?}");
        assert!(replay.events.is_empty(), "a repeat emits nothing: {command:?}");
    }
    assert!(*machine.state() == before, "repeats change nothing: {replayable:?}");
}

/// The state after [`setup`], encoded once; every run starts from it.
fn setup_state() -> &'static [u8] {
    static SETUP: OnceLock<Vec<u8>> = OnceLock::new();
    SETUP.get_or_init(|| {
        let mut machine = StateMachine::new(config());
        let mut steps = Vec::new();
        commit(&mut machine, START_MS, Submission::admin_all(setup()), &mut steps);
        assert!(steps[0].output.outcomes.iter().all(Outcome::is_applied), "the setup applies");
        codec::encode(machine.state())
    })
}

/// A machine in the state after [`setup`]. Decoded, so that every machine has its own hash
/// seeds, as after a restart: nothing may depend on hash map iteration order.
fn start() -> StateMachine {
    StateMachine::from_state(config(), codec::decode_snapshot(setup_state()).expect("the setup state decodes"))
}

fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut machine = start();
    let mut steps = Vec::new();
    let mut now = START_MS;
    let snapshot_after = u.int_in_range(0..=BATCHES_MAX).unwrap_or(0);
    let mut snapshot = None;
    let mut codes: Vec<String> = Vec::new();
    let mut ids: Vec<Id> = Vec::new();
    let mut resolutions: HashMap<Id, u32> = HashMap::new();
    let mut bursts = 0;
    for index in 0..BATCHES_MAX {
        if index == snapshot_after {
            snapshot = Some((steps.len(), codec::encode(machine.state())));
        }
        if u.is_empty() {
            break;
        }
        let balances: Vec<u64> = ACCOUNTS
            .iter()
            .map(|account| machine.account(&id(account)).map_or(0, |account| account.posted.unsigned_abs()))
            .collect();
        let mut generator =
            Generator { u: &mut u, now, codes: &codes, ids: &ids, balances: &balances, bursts: &mut bursts };
        let Ok((batch_now, batch, replay)) = generator.batch() else { break };
        now = batch_now;
        let first = steps.len();
        commit(&mut machine, now, batch, &mut steps);
        if replay {
            replay_idempotent(&mut machine, &mut steps);
        }
        for step in &steps[first..] {
            for outcome in &step.output.outcomes {
                match outcome {
                    Outcome::Applied(
                        Reply::Authorized { code, .. } | Reply::CouponIssued { code } | Reply::CouponClaimed { code },
                    ) => codes.push(code.clone()),
                    Outcome::Applied(Reply::BillSubmitted { challenge, .. }) => codes.push(challenge.clone()),
                    Outcome::Applied(Reply::CouponRedeemed { reward_coupon: Some(coupon), .. }) => {
                        ids.push(coupon.clone())
                    }
                    _ => {}
                }
            }
            for event in &step.output.events {
                if let Event::Posting(posting) = event
                    && let PostingCause::HoldCaptured(hold) | PostingCause::HoldReleased(hold) = &posting.cause
                    && posting.held_delta < 0
                {
                    let count = resolutions.entry(hold.clone()).or_default();
                    *count += 1;
                    assert!(*count <= 1, "hold {hold} resolved {count} times");
                }
            }
        }
    }

    // Determinism: the same batches into a fresh machine give the same outcomes, events, state.
    let mut fresh = start();
    for step in &steps {
        let mut output = CommitOutput::default();
        fresh.commit(step.now, &step.batch, &mut output);
        assert_eq!(output, step.output, "replay gives the same outcomes and events");
    }
    assert!(fresh.state() == machine.state(), "replay gives the same state");

    // Recovery: snapshot (through the codec) plus the batches after it.
    let (from, bytes) = snapshot.unwrap_or_else(|| (steps.len(), codec::encode(machine.state())));
    let state: State = codec::decode_snapshot(&bytes).expect("a snapshot decodes");
    let mut recovered = StateMachine::from_state(config(), state);
    for step in &steps[from..] {
        let mut output = CommitOutput::default();
        recovered.commit(step.now, &step.batch, &mut output);
        assert_eq!(output, step.output, "snapshot + replay gives the same outcomes and events");
    }
    assert!(recovered.state() == machine.state(), "snapshot + replay gives the same state");
}

fuzz_target!(|data: &[u8]| run(data));
