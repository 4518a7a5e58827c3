//! Seeded random command streams over every flow, with plenty of invalid commands.
//!
//! The generator owns one `StdRng` seeded from the run's seed and reads the model (never the
//! engine) to aim its commands: the right secure code of a live authorization, an unpaid member
//! of an open split, a coupon its holder can use. Everything it draws (ids, amounts, expiries,
//! nonces) comes from that rng, so a seed fixes the whole stream. Nonces are drawn here, never
//! from `kassa_engine::runtime::random_nonce`.

mod bills;
mod coupons;
mod money;
mod pos;
mod principals;
mod refunds;

use std::collections::{BTreeMap, VecDeque};

use kassa_engine::command::{
    AddBillItem, AddContact, AdjustmentCondition, Authorize, CaptureHold, ClaimCoupon, ConfirmBill, DeductionKind,
    DeductionRule, IssueCoupon, Movement, OpenAccount, OpenBill, PaySplitShare, PlaceHold, Principal, RedeemCoupon,
    RegisterApiKey, RegisterMerchant, RegisterOperator, RegisterTerminal, RequestSplit, SettlePos, ShareCoupon,
    SplitMember, SplitShares, Submission, SubmitBill, Transfer, TransferBatch, ValueAdjustment,
};
use kassa_engine::constants::{
    AMOUNT_MINOR_MAX, AUTHORIZATION_TTL_MS_MAX, BILL_ITEM_QUANTITY_MAX, BILL_ITEMS_MAX, BILL_WINDOW_MS_MAX,
    CONTACTS_PER_USER_MAX, COUPON_TTL_MS_MAX, HOLD_TTL_MS_MAX, POOL_COUPONS_MAX, SPLIT_MEMBERS_MAX, SPLIT_TTL_MS_MAX,
};
use kassa_engine::types::GeoPoint;
use kassa_engine::{Command, Currency, Id, TimestampMs};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use crate::model::{BillStatus, CouponStatus, HoldStatus, Model, Refunded, SplitStatus};

const MINUTE: u64 = 60_000;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
/// Users of the simulation (`u0` ..), each with a home account `a0` ...
const USERS: usize = 40;
/// Most open accounts the generator keeps in its pool (closed ones are replaced by new ones).
const ACCOUNTS_MAX: usize = 300;
const MERCHANTS_MAX: usize = 12;
const TERMINALS_MAX: usize = 40;
const OPERATORS_MAX: usize = 30;
/// How many recent ids of each kind the generator aims at.
const RECENT: usize = 96;
/// The user that collects contacts up to the limit.
const POPULAR: &str = "u-popular";

fn id(text: &str) -> Id {
    Id::new(text).expect("the generator makes valid ids")
}

/// The most recent ids of one kind.
#[derive(Debug, Default)]
struct Recent {
    ids: VecDeque<Id>,
}

impl Recent {
    fn push(&mut self, id: Id) {
        if self.ids.len() == RECENT {
            self.ids.pop_front();
        }
        self.ids.push_back(id);
    }
}

/// The seeded command generator.
#[derive(Debug)]
pub struct Generator {
    rng: StdRng,
    /// Every account id opened (or tried), with its currency.
    accounts: Vec<(Id, Currency)>,
    by_currency: BTreeMap<Currency, Vec<Id>>,
    /// Recently closed accounts (taken out of `accounts`), for commands on a closed account.
    closed_accounts: VecDeque<(Id, Currency)>,
    users: Vec<Id>,
    /// Each user's current home account (a new one replaces a closed one).
    homes: Vec<Id>,
    /// Accounts routine closes leave alone: homes, merchants' accounts, the whale.
    core: std::collections::BTreeSet<Id>,
    merchants: Vec<Id>,
    terminals: Vec<Id>,
    operators: Vec<Id>,
    holds: Recent,
    authorizations: Recent,
    settlements: Recent,
    bills: Recent,
    splits: Recent,
    coupons: Recent,
    transfers: Recent,
    movements: Recent,
    redemptions: Recent,
    api_keys: Recent,
    counters: BTreeMap<&'static str, u64>,
    /// Recently generated commands, replayed as they were or with one field changed.
    history: VecDeque<Command>,
    bootstrapped: bool,
}

/// Currencies with their weights: two-digit, zero-digit and three-digit minor units.
const CURRENCIES: [(Currency, u32); 4] =
    [(Currency::EUR, 55), (Currency::USD, 20), (Currency::JPY, 15), (Currency::KWD, 10)];

impl Generator {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(seed),
            accounts: Vec::new(),
            by_currency: BTreeMap::new(),
            closed_accounts: VecDeque::new(),
            users: (0..USERS).map(|index| id(&format!("u{index}"))).collect(),
            homes: Vec::new(),
            core: std::collections::BTreeSet::new(),
            merchants: Vec::new(),
            terminals: Vec::new(),
            operators: Vec::new(),
            holds: Recent::default(),
            authorizations: Recent::default(),
            settlements: Recent::default(),
            bills: Recent::default(),
            splits: Recent::default(),
            coupons: Recent::default(),
            transfers: Recent::default(),
            movements: Recent::default(),
            redemptions: Recent::default(),
            api_keys: Recent::default(),
            counters: BTreeMap::new(),
            history: VecDeque::new(),
            bootstrapped: false,
        }
    }

    // ----- randomness helpers ----------------------------------------------------------------

    /// True with probability `per_mille` / 1000.
    fn pm(&mut self, per_mille: u32) -> bool {
        self.rng.random_range(0..1000) < per_mille
    }

    fn range(&mut self, low: u64, high: u64) -> u64 {
        self.rng.random_range(low..=high)
    }

    fn index(&mut self, len: usize) -> usize {
        self.rng.random_range(0..len)
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() { None } else { Some(items[self.index(items.len())].clone()) }
    }

    fn fresh(&mut self, prefix: &'static str) -> Id {
        let counter = self.counters.entry(prefix).or_default();
        *counter += 1;
        id(&format!("{prefix}{counter}"))
    }

    /// An id that was never made.
    fn unknown(&mut self, prefix: &str) -> Id {
        let number = self.range(1, 1_000_000);
        id(&format!("{prefix}-unknown-{number}"))
    }

    /// An id of a kind: mostly recent, sometimes any ever made, sometimes one never made.
    fn existing(&mut self, prefix: &'static str, recent: fn(&Generator) -> &Recent) -> Id {
        let roll = self.rng.random_range(0..100);
        let made = self.counters.get(prefix).copied().unwrap_or(0);
        let ids_len = recent(self).ids.len();
        if roll < 82 && ids_len > 0 {
            let index = self.index(ids_len);
            return recent(self).ids[index].clone();
        }
        if roll < 95 && made > 0 {
            let number = self.range(1, made);
            return id(&format!("{prefix}{number}"));
        }
        self.unknown(prefix)
    }

    /// Mostly a recent id whose object is in a useful state (`useful`), else any `existing` one.
    fn aim(&mut self, prefix: &'static str, recent: fn(&Generator) -> &Recent, useful: impl Fn(&Id) -> bool) -> Id {
        let candidates: Vec<Id> = recent(self).ids.iter().filter(|id| useful(id)).cloned().collect();
        match self.pick(&candidates) {
            Some(id) if self.pm(800) => id,
            _ => self.existing(prefix, recent),
        }
    }

    fn currency(&mut self) -> Currency {
        let mut roll = self.rng.random_range(0..100);
        for (currency, weight) in CURRENCIES {
            if roll < weight {
                return currency;
            }
            roll -= weight;
        }
        Currency::EUR
    }

    fn other_currency(&mut self, currency: Currency) -> Currency {
        loop {
            let other = CURRENCIES[self.index(CURRENCIES.len())].0;
            if other != currency {
                return other;
            }
        }
    }

    /// A sum of money: mostly modest, sometimes large, sometimes invalid.
    fn money(&mut self) -> u64 {
        match self.rng.random_range(0..100) {
            0..60 => self.range(1, 10_000),
            60..90 => self.range(10_001, 1_000_000),
            90..98 => self.range(1_000_001, 100_000_000),
            98 => 0,
            _ => {
                if self.pm(500) {
                    AMOUNT_MINOR_MAX
                } else {
                    AMOUNT_MINOR_MAX + self.range(1, 1_000)
                }
            }
        }
    }

    /// An amount against `available` (+ `overdraft`): within, at the edge, beyond, invalid.
    fn amount_against(&mut self, available: i128, overdraft: u64) -> u64 {
        let room = u64::try_from((available + i128::from(overdraft)).max(0)).unwrap_or(u64::MAX).min(AMOUNT_MINOR_MAX);
        match self.rng.random_range(0..100) {
            0..55 if room > 0 => self.range(1, room.min(1_000_000_000)),
            55..65 if room > 0 => room,
            65..72 => room.saturating_add(1),
            _ => self.money(),
        }
    }

    /// A valid secure code that is not `code` (8 digits), or a malformed one.
    fn wrong_code(&mut self, code: Option<&str>, digits: u32) -> String {
        if self.pm(150) {
            return match self.rng.random_range(0..4) {
                0 => String::new(),
                1 => "12ab5678".to_string(),
                2 => "1".repeat(17),
                _ => "0".repeat(digits as usize - 1),
            };
        }
        loop {
            let value = self.range(0, 10u64.pow(digits) - 1);
            let candidate = format!("{value:0width$}", width = digits as usize);
            if Some(candidate.as_str()) != code {
                return candidate;
            }
        }
    }

    /// A random account, open ones preferred (a closed one now and then).
    fn account(&mut self, model: &Model) -> (Id, Currency) {
        if self.pm(40) && !self.closed_accounts.is_empty() {
            let index = self.index(self.closed_accounts.len());
            return self.closed_accounts[index].clone();
        }
        let first = self.index(self.accounts.len());
        let mut account = self.accounts[first].clone();
        for _ in 0..2 {
            if !model.accounts.get(&account.0).is_some_and(|a| a.closed) {
                break;
            }
            let next = self.index(self.accounts.len());
            account = self.accounts[next].clone();
        }
        account
    }

    /// An account in `currency`, open ones preferred (sometimes any account at all).
    fn account_of(&mut self, model: &Model, currency: Currency) -> Id {
        if self.pm(60) {
            return self.account(model).0;
        }
        let same = self.by_currency.get(&currency).cloned().unwrap_or_default();
        let open: Vec<Id> =
            same.iter().filter(|id| !model.accounts.get(*id).is_some_and(|a| a.closed)).cloned().collect();
        match self.pick(&open) {
            Some(account) if !self.pm(30) => account,
            _ => self.pick(&same).unwrap_or_else(|| self.account(model).0),
        }
    }

    fn home(&self, user: &Id) -> Id {
        let index: usize = user.as_str().trim_start_matches('u').parse().unwrap_or(0);
        self.homes[index % USERS].clone()
    }

    /// A user's account in `currency`: the home when it matches, mostly.
    fn account_for(&mut self, model: &Model, user: &Id, currency: Currency) -> Id {
        let home = self.home(user);
        if self.currency_of(model, &home) == currency && self.pm(900) { home } else { self.account_of(model, currency) }
    }

    fn user(&mut self) -> Id {
        self.pick(&self.users.clone()).expect("users")
    }

    fn currency_of(&self, model: &Model, account: &Id) -> Currency {
        model
            .accounts
            .get(account)
            .map(|a| a.currency)
            .or_else(|| self.accounts.iter().find(|(id, _)| id == account).map(|(_, c)| *c))
            .unwrap_or(Currency::EUR)
    }

    /// An expiry: usually minutes to hours ahead, sometimes at or past the limit, or in the past.
    fn expiry(&mut self, now: TimestampMs, max: u64) -> TimestampMs {
        match self.rng.random_range(0..100) {
            0..60 => now + self.range(1_000, 30 * MINUTE),
            60..82 => now + self.range(30 * MINUTE, 6 * HOUR),
            82..90 => now + self.range(6 * HOUR, max),
            90..93 => now + max,
            93..95 => now + max + 1,
            95..97 => now,
            _ => now.saturating_sub(self.range(1, HOUR)),
        }
    }

    /// How far simulated time moves before the next batch.
    pub fn time_step(&mut self) -> u64 {
        match self.rng.random_range(0..100) {
            0..10 => 0,
            10..70 => self.range(1, 3_000),
            70..90 => self.range(3_000, 2 * MINUTE),
            90..98 => self.range(2 * MINUTE, 20 * MINUTE),
            _ => self.range(20 * MINUTE, 8 * HOUR),
        }
    }

    /// How many commands the next batch has (before clipping to what is left of the run).
    pub fn batch_size(&mut self) -> usize {
        match self.rng.random_range(0..100) {
            0..20 => self.rng.random_range(1..=20),
            20..85 => self.rng.random_range(20..=250),
            _ => self.rng.random_range(250..=600),
        }
    }

    /// Whether the engine restarts after this batch (decided from the seed).
    pub fn restart_now(&mut self, per_million: u32) -> bool {
        self.rng.random_range(0..1_000_000) < per_million
    }

    /// Learns the id of a reward coupon the model created, so later commands can use it.
    pub fn note_reward(&mut self, coupon: Id) {
        self.coupons.push(coupon);
    }

    // ----- batches ---------------------------------------------------------------------------

    /// The next batch of about `size` commands at `now`, aimed using `model`, each with the
    /// principal that sends it (`principals.rs`).
    pub fn batch(&mut self, model: &Model, now: TimestampMs, size: usize) -> Vec<Submission> {
        let mut batch = Vec::with_capacity(size + 8);
        if self.bootstrapped {
            self.maintain(model, &mut batch);
        } else {
            self.bootstrapped = true;
            self.bootstrap(&mut batch);
        }
        while batch.len() < size {
            self.command(model, now, &mut batch);
        }
        batch.truncate(size);
        for command in &batch {
            if !matches!(command, Command::Tick) {
                if self.history.len() == 512 {
                    self.history.pop_front();
                }
                self.history.push_back(command.clone());
            }
        }
        self.sign(model, batch)
    }

    fn open(&mut self, batch: &mut Vec<Command>, account: Id, currency: Currency, overdraft_limit: u64) {
        self.accounts.push((account.clone(), currency));
        self.by_currency.entry(currency).or_default().push(account.clone());
        batch.push(Command::OpenAccount(OpenAccount { account, currency, overdraft_limit }));
    }

    /// Replaces closed home accounts, and merchants whose account closed, so that every flow
    /// stays reachable for the whole run.
    fn maintain(&mut self, model: &Model, batch: &mut Vec<Command>) {
        // Closed accounts leave the pool (a few stay at hand), so that new ones get opened.
        let closed = |account: &Id| model.accounts.get(account).is_some_and(|a| a.closed);
        let (gone, live): (Vec<_>, Vec<_>) = self.accounts.drain(..).partition(|(account, _)| closed(account));
        self.accounts = live;
        for account in gone {
            if self.closed_accounts.len() == 32 {
                self.closed_accounts.pop_front();
            }
            self.closed_accounts.push_back(account);
        }
        for accounts in self.by_currency.values_mut() {
            accounts.retain(|account| !closed(account));
        }
        for index in 0..USERS {
            if model.accounts.get(&self.homes[index]).is_some_and(|a| a.closed) {
                let (account, currency) = (self.fresh("a-home-"), self.currency());
                self.open(batch, account.clone(), currency, 0);
                self.homes[index] = account.clone();
                self.core.insert(account.clone());
                let deposit = self.fresh("d");
                batch.push(Command::Deposit(Movement { id: deposit, account, amount: self.range(100_000, 5_000_000) }));
            }
        }
        if self.live_merchants(model).len() < 4 {
            let currency = self.currency();
            self.new_merchant(batch, currency);
        }
    }

    /// Merchants whose account is open.
    fn live_merchants(&self, model: &Model) -> Vec<Id> {
        let open = |m: &Id| model.merchants.get(m).is_some_and(|a| model.accounts.get(a).is_some_and(|a| !a.closed));
        self.merchants.iter().filter(|m| open(m)).cloned().collect()
    }

    /// A merchant with a fresh account, two terminals and an operator.
    fn new_merchant(&mut self, batch: &mut Vec<Command>, currency: Currency) {
        let (merchant, account) = (self.fresh("m-"), self.fresh("ma-"));
        self.open(batch, account.clone(), currency, 0);
        self.core.insert(account.clone());
        self.merchants.push(merchant.clone());
        batch.push(Command::RegisterMerchant(RegisterMerchant { merchant: merchant.clone(), account }));
        for _ in 0..2 {
            let terminal = self.fresh("t-");
            self.terminals.push(terminal.clone());
            let merchant = merchant.clone();
            let register = RegisterTerminal { terminal, merchant, mac_key: None, location: None };
            batch.push(Command::RegisterTerminal(register));
        }
        let operator = self.fresh("o-");
        self.operators.push(operator.clone());
        batch.push(Command::RegisterOperator(RegisterOperator { operator, merchant }));
    }

    /// Users' home accounts with money, merchants with terminals and operators, some contacts.
    fn bootstrap(&mut self, batch: &mut Vec<Command>) {
        for index in 0..USERS {
            let currency = self.currency();
            let overdraft = if self.pm(200) { self.range(1, 50_000) } else { 0 };
            self.open(batch, id(&format!("a{index}")), currency, overdraft);
            self.homes.push(id(&format!("a{index}")));
            self.core.insert(id(&format!("a{index}")));
        }
        self.open(batch, id("whale"), Currency::EUR, 0);
        self.core.insert(id("whale"));
        for (index, currency) in
            [Currency::EUR, Currency::EUR, Currency::USD, Currency::JPY, Currency::KWD, Currency::EUR]
                .into_iter()
                .enumerate()
        {
            let (merchant, account) = (id(&format!("m{index}")), id(&format!("ma{index}")));
            self.open(batch, account.clone(), currency, 0);
            self.core.insert(account.clone());
            self.merchants.push(merchant.clone());
            batch.push(Command::RegisterMerchant(RegisterMerchant { merchant: merchant.clone(), account }));
            for terminal in 0..2 {
                let terminal = id(&format!("t{index}-{terminal}"));
                self.terminals.push(terminal.clone());
                let merchant = merchant.clone();
                batch.push(Command::RegisterTerminal(RegisterTerminal {
                    terminal,
                    merchant,
                    mac_key: None,
                    location: None,
                }));
            }
            let operator = id(&format!("o{index}"));
            self.operators.push(operator.clone());
            batch.push(Command::RegisterOperator(RegisterOperator { operator, merchant }));
        }
        for index in 0..USERS {
            let amount = self.range(100_000, 5_000_000);
            let deposit = self.fresh("d");
            batch.push(Command::Deposit(Movement { id: deposit, account: id(&format!("a{index}")), amount }));
        }
        for _ in 0..60 {
            let (user, contact) = (self.user(), self.user());
            batch.push(Command::AddContact(AddContact { user, contact }));
        }
    }

    /// Appends one command (or a short scenario of several).
    fn command(&mut self, model: &Model, now: TimestampMs, batch: &mut Vec<Command>) {
        let roll = self.rng.random_range(0..1000);
        match roll {
            0..40 => batch.push(Command::Tick),
            40..70 => self.replay(batch),
            70..95 => self.open_account(model, batch),
            95..105 => self.close_account(model, batch),
            105..185 => self.deposit(model, batch),
            185..225 => self.withdraw(model, batch),
            225..345 => batch.push(self.transfer(model, None)),
            345..370 => self.transfer_batch(model, batch),
            370..415 => self.place_hold(model, now, batch),
            415..450 => self.capture_hold(model, batch),
            450..465 => {
                // A POS sale's pre-authorization now and then (its payer anywhere).
                let hold = if self.pm(250) {
                    self.aim("s", |g| &g.settlements, |h| active_hold(model, h))
                } else {
                    self.aim("h", |g| &g.holds, |h| active_hold(model, h))
                };
                batch.push(Command::VoidHold { hold });
            }
            465..475 => self.register_merchant(model, batch),
            475..482 => self.register_terminal(model, batch),
            482..488 => self.register_operator(model, batch),
            488..535 => {
                let user = self.user();
                let authorize = self.authorize(model, now, user);
                batch.push(authorize);
            }
            535..592 => self.settle_pos(model, now, batch),
            592..600 => {
                // A lost phone: its code revoked (mostly a live one; sometimes used or unknown).
                let authorization = self.aim("z", |g| &g.authorizations, |z| live_authorization(model, z, now));
                batch.push(Command::RevokeAuthorization { authorization });
            }
            600..608 => {
                let approved = |s: &Id| model.settlements.get(s).is_some_and(|s| s.effect.is_some());
                let settlement = self.aim("s", |g| &g.settlements, approved);
                batch.push(Command::ReversePos { settlement });
            }
            608..615 => self.refund(model, Refunded::Settlement, batch),
            615..640 => self.open_bill(model, now, batch),
            640..690 => self.add_bill_item(model, now, batch),
            690..712 => self.submit_bill(model, batch),
            712..734 => self.confirm_bill(model, batch),
            734..740 => self.refund(model, Refunded::Bill, batch),
            740..746 => {
                let unpaid = |b: &Id| {
                    model
                        .bills
                        .get(b)
                        .is_some_and(|b| matches!(b.status, BillStatus::Open | BillStatus::Submitted { .. }))
                };
                let bill =
                    if self.pm(500) { self.aim("b", |g| &g.bills, unpaid) } else { self.existing("b", |g| &g.bills) };
                batch.push(Command::CancelBill { bill });
            }
            746..766 => self.request_split(model, now, batch),
            766..806 => self.pay_split_share(model, batch),
            806..810 => {
                let open = |p: &Id| model.splits.get(p).is_some_and(|p| p.status == SplitStatus::Open);
                let split =
                    if self.pm(500) { self.aim("p", |g| &g.splits, open) } else { self.existing("p", |g| &g.splits) };
                batch.push(Command::CancelSplit { split });
            }
            810..812 => {
                // Mostly a completed split (refunded whole by its requester), else any.
                let completed = |p: &Id| model.splits.get(p).is_some_and(|p| p.status == SplitStatus::Completed);
                let split = if self.pm(800) {
                    self.aim("p", |g| &g.splits, completed)
                } else {
                    self.existing("p", |g| &g.splits)
                };
                batch.push(Command::RefundSplit { split });
            }
            812..827 => self.add_contact(batch),
            827..857 => self.issue_coupon(model, now, batch),
            857..872 => self.share_coupon(model, batch),
            872..890 => self.claim_coupon(model, batch),
            890..925 => self.redeem_coupon(model, batch),
            925..933 => self.register_api_key(model, batch),
            933..935 => {
                let key_id = self.existing("k", |g| &g.api_keys);
                batch.push(Command::RevokeApiKey { key_id });
            }
            // Scenarios: several commands that push one object to a limit.
            935 => self.brute_force(model, now, batch),
            936 => batch.push(self.transfer(model, None)),
            937..939 => self.wrong_challenges(model, batch),
            939 => self.drain_and_close(model, batch),
            940 if self.pm(40) => self.fill_bill(model, now, batch),
            941 => self.many_authorizations(model, now, batch),
            942 if self.pm(40) => self.popular_contacts(model, batch),
            943 if self.pm(30) => self.hoard(model, now, batch),
            944..950 => self.whale(model, batch),
            _ => batch.push(self.transfer(model, None)),
        }
    }

    /// A recent command again: as it was (an idempotent repeat) or with one field changed.
    fn replay(&mut self, batch: &mut Vec<Command>) {
        let Some(command) = self.pick(&Vec::from(self.history.clone())) else { return };
        if self.pm(600) {
            batch.push(command);
            return;
        }
        let bump = |amount: &mut u64| *amount = amount.saturating_add(1);
        let mut command = command;
        match &mut command {
            Command::OpenAccount(open) => bump(&mut open.overdraft_limit),
            Command::Deposit(movement) | Command::Withdraw(movement) => bump(&mut movement.amount),
            Command::Transfer(transfer) => bump(&mut transfer.amount),
            Command::TransferBatch(batch) => {
                if let Some(first) = batch.transfers.first_mut() {
                    bump(&mut first.amount);
                }
            }
            Command::PlaceHold(place) => bump(&mut place.amount),
            Command::CaptureHold(capture) => bump(&mut capture.amount),
            Command::RegisterMerchant(register) => register.account = id("a0"),
            Command::RegisterTerminal(register) => register.mac_key = Some(vec![7; 16]),
            Command::RegisterOperator(register) => register.merchant = id("m0"),
            Command::Authorize(authorize) => bump(&mut authorize.limit),
            Command::SettlePos(settle) => bump(&mut settle.amount),
            Command::OpenBill(open) => bump(&mut open.closes_at_ms),
            Command::SubmitBill(submit) => bump(&mut submit.nonce),
            Command::RequestSplit(request) => bump(&mut request.expires_at_ms),
            Command::IssueCoupon(issue) => {
                // Another holder is another body: `already_exists` (found by this simulation: the
                // engine used to ignore the holder and answer the existing coupon's code).
                let (other_holder, holder) = (self.pm(500), self.user());
                if other_holder && holder != issue.holder {
                    issue.holder = holder;
                } else {
                    bump(&mut issue.valid_until_ms);
                }
            }
            Command::RedeemCoupon(redeem) => bump(&mut redeem.amount),
            Command::RegisterApiKey(register) => register.secret_hash[0] ^= 1,

            _ => {}
        }
        batch.push(command);
    }
}

fn active_hold(model: &Model, hold: &Id) -> bool {
    model.holds.get(hold).is_some_and(|h| h.status == HoldStatus::Active)
}

fn live_authorization(model: &Model, authorization: &Id, now: TimestampMs) -> bool {
    model.authorizations.get(authorization).is_some_and(|a| {
        a.status == crate::model::AuthStatus::Active
            && now < a.expires_at_ms
            && model.accounts.get(&a.account).is_some_and(|account| !account.closed)
    })
}

fn open_bill_in_window(model: &Model, bill: &Id, now: TimestampMs) -> bool {
    model.bills.get(bill).is_some_and(|b| b.status == BillStatus::Open && b.opens_at_ms <= now && now < b.closes_at_ms)
}

fn usable_coupon(model: &Model, coupon: &Id) -> bool {
    model.coupons.get(coupon).is_some_and(|c| c.status == CouponStatus::Available && c.code.is_some())
}
