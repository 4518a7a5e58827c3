//! The payment flows, written once in engine commands and run by each worker over its
//! [`Channel`]. Every command is one step: it takes a slot from the pacer (which may end the
//! run), waits for its intended send time in open loop, and is recorded under its step kind
//! (`pos.settle`, ...). A flow stops at its first step that is not approved.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use kassa_engine::command::Command;
use kassa_engine::{Currency, Id, Reply};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::channel::{Answer, Channel, Failure, now_ms};
use crate::mix::{Mix, Scenario};
use crate::report::{APPROVED, Code, Stats};
use crate::schedule::{Mode, Pacer, Slot};
use crate::skew::AccountPicker;

mod flows;

/// Opening balance of every load account, in minor units.
pub const OPENING_BALANCE: u64 = 1_000_000_000;

/// The currency of every account.
pub const CURRENCY: Currency = Currency::EUR;

/// Spending limit of the secure codes the flows authorize, in minor units.
const AUTHORIZATION_LIMIT: u64 = 100_000;
/// Lifetime of authorizations, holds, bills, splits (milliseconds).
const OBJECT_TTL_MS: u64 = 10 * 60_000;
/// Lifetime of coupons (milliseconds).
const COUPON_TTL_MS: u64 = 3_600_000;
/// How far in the past bill windows and coupon validity start, so that a clock a little behind
/// the load generator's still finds them open.
const CLOCK_SLACK_MS: u64 = 60_000;
/// Members asked to pay a split.
const SPLIT_MEMBERS: usize = 3;
/// A coupon's discount, its minimum spend, and the sharer's reward (minor units).
const COUPON_DISCOUNT: u64 = 50;
const COUPON_MIN_SPEND: u64 = 100;
const COUPON_REWARD: u64 = 10;

/// Step kinds (the report's per-step rows).
pub mod steps {
    /// A transfer.
    pub const TRANSFER: &str = "transfers.transfer";
    /// A client-side batch of transfers (`--batch`).
    pub const TRANSFER_BATCH: &str = "transfers.batch";
    /// The user's secure code.
    pub const POS_AUTHORIZE: &str = "pos.authorize";
    /// The purchase, as an engine command or over HTTP.
    pub const POS_SETTLE: &str = "pos.settle";
    /// The purchase as an ISO 8583 0200.
    pub const POS_SETTLE_0200: &str = "pos.settle_0200";
    /// A hold placed.
    pub const HOLDS_PLACE: &str = "holds.place";
    /// The secure code for an ISO 8583 authorization hold.
    pub const HOLDS_AUTHORIZE: &str = "holds.authorize";
    /// An authorization hold as an ISO 8583 0100.
    pub const HOLDS_HOLD_0100: &str = "holds.hold_0100";
    /// Part of a hold captured.
    pub const HOLDS_CAPTURE: &str = "holds.capture";
    /// A hold voided.
    pub const HOLDS_VOID: &str = "holds.void";
    /// An authorization hold reversed with an ISO 8583 0400.
    pub const HOLDS_REVERSE_0400: &str = "holds.reverse_0400";
    /// A bill opened.
    pub const BILLS_OPEN: &str = "bills.open";
    /// An item added by the terminal.
    pub const BILLS_ADD_ITEM: &str = "bills.add_item";
    /// The bill totalled, the challenge issued.
    pub const BILLS_SUBMIT: &str = "bills.submit";
    /// The user confirms with the challenge and pays.
    pub const BILLS_CONFIRM: &str = "bills.confirm";
    /// A split requested from a group.
    pub const SPLITS_REQUEST: &str = "splits.request";
    /// A member pays their share.
    pub const SPLITS_PAY: &str = "splits.pay";
    /// A split cancelled after a failed payment (paid shares refunded).
    pub const SPLITS_CANCEL: &str = "splits.cancel";
    /// The merchant issues a coupon.
    pub const COUPONS_ISSUE: &str = "coupons.issue";
    /// The holder shares it into their pool.
    pub const COUPONS_SHARE: &str = "coupons.share";
    /// A contact claims it.
    pub const COUPONS_CLAIM: &str = "coupons.claim";
    /// The claimer's secure code for a POS redemption.
    pub const COUPONS_AUTHORIZE: &str = "coupons.authorize";
    /// A POS settlement with the coupon: redeemed and paid in one step.
    pub const COUPONS_SETTLE: &str = "coupons.settle";
    /// The merchant's operator redeems the coupon's code against a purchase.
    pub const COUPONS_REDEEM: &str = "coupons.redeem";
    /// The claimer pays what is left after the discount.
    pub const COUPONS_PAY: &str = "coupons.pay";
}

/// The names of everything a run creates, unique per run (`lg<run>-...`) so that runs can share
/// a server.
#[derive(Debug, Clone)]
pub struct Ids {
    run: u32,
    prefix: String,
    /// Which of the merchant account's names is used (`Ids::with_merchant_account_on`).
    merchant_account: u32,
    /// Which of each account's names is used (`Ids::with_accounts_on_users_partitions`;
    /// empty: the first name).
    account_names: std::sync::Arc<Vec<u32>>,
}

impl Ids {
    /// Names for run number `run`.
    pub fn new(run: u32) -> Ids {
        Ids { run, prefix: format!("lg{run}"), merchant_account: 0, account_names: Default::default() }
    }

    /// These names with a merchant account that lives on `partition` of `placement` (to measure
    /// where it lives), found by trying `-m-acc`, `-m-acc1`, ...
    pub fn with_merchant_account_on(
        mut self,
        placement: &kassa_engine::partition::Placement,
        partition: kassa_engine::partition::PartitionId,
    ) -> Ids {
        self.merchant_account =
            (0..).find(|n| placement.of_account(&self.merchant_account_named(*n)) == partition).expect("some name");
        self
    }

    /// These names with each of the first `accounts` accounts on its user's partition of
    /// `placement` (where co-location would place a user's account: docs/placement.md, step 6),
    /// found by trying `-a<i>`, `-a<i>-1`, ...
    pub fn with_accounts_on_users_partitions(
        mut self,
        placement: &kassa_engine::partition::Placement,
        accounts: usize,
    ) -> Ids {
        let names = (0..accounts).map(|index| {
            let partition = placement.of_user(&self.user(index));
            (0..).find(|n| placement.of_account(&self.account_named(index, *n)) == partition).expect("some name")
        });
        self.account_names = std::sync::Arc::new(names.collect());
        self
    }

    fn account_named(&self, index: usize, n: u32) -> Id {
        match n {
            0 => Ids::id(&format!("{}-a{index}", self.prefix)),
            n => Ids::id(&format!("{}-a{index}-{n}", self.prefix)),
        }
    }

    fn merchant_account_named(&self, n: u32) -> Id {
        match n {
            0 => Ids::id(&format!("{}-m-acc", self.prefix)),
            n => Ids::id(&format!("{}-m-acc{n}", self.prefix)),
        }
    }

    fn id(text: &str) -> Id {
        Id::new(text).expect("the load generator makes valid ids")
    }

    /// Load account `index`.
    pub fn account(&self, index: usize) -> Id {
        self.account_named(index, self.account_names.get(index).copied().unwrap_or(0))
    }

    /// The user who owns account `index`: a 16-digit PAN, as ISO 8583 field 2 wants.
    pub fn user(&self, index: usize) -> Id {
        Ids::id(&format!("9{:05}{:010}", self.run % 100_000, index))
    }

    /// The opening deposit of account `index`.
    pub fn deposit(&self, index: usize) -> Id {
        Ids::id(&format!("{}-f{index}", self.prefix))
    }

    /// The merchant of the POS, bill and coupon flows.
    pub fn merchant(&self) -> Id {
        Ids::id(&format!("{}-m", self.prefix))
    }

    /// The merchant's account.
    pub fn merchant_account(&self) -> Id {
        self.merchant_account_named(self.merchant_account)
    }

    /// The merchant's operator (redeems coupons).
    pub fn operator(&self) -> Id {
        Ids::id(&format!("{}-op", self.prefix))
    }

    /// Worker `worker`'s terminal: 8 digits, as ISO 8583 field 41 wants (workers < 100,000).
    pub fn terminal(&self, worker: usize) -> Id {
        Ids::id(&format!("{:08}", u64::from(self.run % 1_000) * 100_000 + (worker % 100_000) as u64))
    }

    /// Object `sequence` of kind `kind` made by worker `worker`.
    pub fn object(&self, kind: &str, worker: usize, sequence: u64) -> Id {
        Ids::id(&format!("{}-{kind}{worker}-{sequence}", self.prefix))
    }
}

/// What every worker shares.
pub struct Shared {
    /// Names.
    pub ids: Ids,
    /// Which accounts a flow touches.
    pub picker: AccountPicker,
    /// Number of load accounts.
    pub accounts: usize,
    /// Which flows run.
    pub mix: Mix,
    /// The `iso8583` target: POS settlements, holds and reversals go over ISO 8583.
    pub iso: bool,
    /// Transfers per request in the transfers flow (1: single commands).
    pub batch: usize,
    /// Slots, deadline and budget.
    pub pacer: Pacer,
    /// Measurements.
    pub stats: Stats,
    /// Splits that may hold money in escrow at the end (requested, not seen complete or
    /// cancelled); the conservation check adds their escrow.
    pub open_splits: Mutex<Vec<Id>>,
}

/// Why a flow stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Halt {
    /// A step was not approved; the worker goes on with its next flow.
    Refused,
    /// The run is over (deadline or count) or the channel is gone: the worker stops.
    Stop,
}

/// One closed- or open-loop worker: a channel, a terminal, a random source, and a flow at a time.
pub struct Worker {
    index: usize,
    shared: Arc<Shared>,
    channel: Channel,
    rng: SmallRng,
    sequence: u64,
    stan: u32,
    terminal: Id,
    /// Whether the current flow's first step was measured (`None`: no step yet).
    measured: Option<bool>,
}

fn code_of(answer: &Answer) -> Code {
    match answer {
        Ok(_) => Code::Borrowed(APPROVED),
        Err(failure) => failure.code.clone(),
    }
}

impl Worker {
    /// Worker `index` (its random source is seeded from `seed` and the index).
    pub fn new(index: usize, shared: Arc<Shared>, channel: Channel, seed: u64) -> Worker {
        let terminal = shared.ids.terminal(index);
        let rng = SmallRng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        Worker { index, shared, channel, rng, sequence: 0, stan: 0, terminal, measured: None }
    }

    /// Runs flows until the pacer ends the run or the channel fails for good.
    pub async fn run(mut self) {
        loop {
            let scenario = self.shared.mix.pick(&mut self.rng);
            self.measured = None;
            let result = match scenario {
                Scenario::Transfers => self.transfers().await,
                Scenario::Pos => self.pos().await,
                Scenario::Holds if self.shared.iso => self.iso_holds().await,
                Scenario::Holds => self.holds().await,
                Scenario::Bills => self.bills().await,
                Scenario::Splits => self.splits().await,
                Scenario::Coupons => self.coupons().await,
            };
            if self.measured == Some(true) {
                self.shared.stats.scenario(self.index, scenario.name(), result.is_ok());
            }
            if result == Err(Halt::Stop) {
                return;
            }
        }
    }

    fn next_id(&mut self, kind: &str) -> Id {
        self.sequence += 1;
        self.shared.ids.object(kind, self.index, self.sequence)
    }

    /// The next settlement id of this worker's terminal (`iso:<terminal>:<STAN>:<field 7>`,
    /// field 7 the current time: a STAN that wraps lands on another second).
    fn next_settlement(&mut self) -> Id {
        self.stan = self.stan % 999_999 + 1;
        let transmitted = kassa_adapters::iso8583::identity::transmission_time(now_ms());
        crate::iso8583::settlement_id(self.terminal.as_str(), self.stan, &transmitted)
    }

    fn pick(&mut self) -> usize {
        self.shared.picker.pick(&mut self.rng)
    }

    fn amount(&mut self, low: u64, high: u64) -> u64 {
        self.rng.random_range(low..=high)
    }

    /// Takes a slot for `wanted` commands and waits for its intended time.
    async fn slot(&mut self, wanted: usize) -> Result<Slot, Halt> {
        let slot = self.shared.pacer.next(wanted).ok_or(Halt::Stop)?;
        self.measured.get_or_insert(slot.measured);
        if let Mode::Open { .. } = self.shared.pacer.mode() {
            tokio::time::sleep_until(slot.intended.into()).await;
        }
        Ok(slot)
    }

    fn record(&self, step: &'static str, slot: &Slot, done: Instant, results: &[Code]) {
        if slot.measured {
            self.shared.stats.record(self.index, step, slot.intended, done, results);
        } else {
            self.shared.stats.unmeasured(results.len() as u64);
        }
    }

    /// One step: one command, timed from its intended send time.
    async fn step(&mut self, step: &'static str, command: Command) -> Result<Reply, Halt> {
        let slot = self.slot(1).await?;
        let answer = self.channel.execute(command).await;
        self.record(step, &slot, Instant::now(), &[code_of(&answer)]);
        self.verdict(answer).await
    }

    async fn verdict(&mut self, answer: Answer) -> Result<Reply, Halt> {
        match answer {
            Ok(reply) => Ok(reply),
            Err(Failure { fatal: true, .. }) => Err(Halt::Stop),
            Err(failure) => {
                if failure.code == "busy" {
                    // Back off a little: let the server drain before this worker asks again.
                    tokio::task::yield_now().await;
                }
                Err(Halt::Refused)
            }
        }
    }
}

/// The commands of the setup phase, in phases that must apply in order (commands within a
/// phase are independent): accounts; deposits and the merchant; terminals (one per worker), the
/// operator and the contacts (each user with the next). Without `merchant` (flows between
/// accounts only, `Mix::only_between_accounts`) no merchant is registered. Returns them with the
/// sum deposited.
pub fn setup_phases(
    ids: &Ids,
    accounts: usize,
    workers: usize,
    mix: &Mix,
    merchant: bool,
) -> (Vec<Vec<Command>>, i128) {
    use kassa_engine::command::{
        AddContact, Movement, OpenAccount, RegisterMerchant, RegisterOperator, RegisterTerminal,
    };
    let open = |account: Id| Command::OpenAccount(OpenAccount { account, currency: CURRENCY, overdraft_limit: 0 });
    let mut first: Vec<Command> = (0..accounts).map(|index| open(ids.account(index))).collect();
    first.push(open(ids.merchant_account()));
    let mut second: Vec<Command> = (0..accounts)
        .map(|index| {
            Command::Deposit(Movement { id: ids.deposit(index), account: ids.account(index), amount: OPENING_BALANCE })
        })
        .collect();
    let deposited = i128::from(OPENING_BALANCE) * i128::try_from(accounts).expect("fits");
    if !merchant {
        return (vec![first, second], deposited);
    }
    second.push(Command::RegisterMerchant(RegisterMerchant {
        merchant: ids.merchant(),
        account: ids.merchant_account(),
    }));
    let mut third: Vec<Command> = (0..workers)
        .map(|worker| {
            Command::RegisterTerminal(RegisterTerminal {
                terminal: ids.terminal(worker),
                merchant: ids.merchant(),
                mac_key: None,
                location: None,
            })
        })
        .collect();
    third.push(Command::RegisterOperator(RegisterOperator { operator: ids.operator(), merchant: ids.merchant() }));
    if mix.contains(Scenario::Coupons) {
        third.extend((0..accounts).map(|index| {
            Command::AddContact(AddContact { user: ids.user(index), contact: ids.user((index + 1) % accounts) })
        }));
    }
    (vec![first, second, third], deposited)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_fit_their_fields() {
        let ids = Ids::new(u32::MAX);
        assert_eq!(ids.user(123).as_str(), "9672950000000123");
        assert_eq!(ids.terminal(99_999).as_str(), "29599999");
        assert_eq!(ids.terminal(0).as_str().len(), 8);
        assert!(ids.object("p", 99_999, u64::MAX).as_str().len() <= 64);
        assert_ne!(Ids::new(1).account(1), Ids::new(2).account(1), "runs do not collide");
    }

    #[test]
    fn setup_deposits_what_it_says() {
        let ids = Ids::new(7);
        let (phases, deposited) = setup_phases(&ids, 10, 3, &"coupons=1".parse().unwrap(), true);
        assert_eq!(phases.len(), 3);
        assert_eq!(phases[0].len(), 11, "10 accounts and the merchant's");
        let deposits: u64 = phases
            .iter()
            .flatten()
            .filter_map(|command| match command {
                Command::Deposit(movement) => Some(movement.amount),
                _ => None,
            })
            .sum();
        assert_eq!(i128::from(deposits), deposited);
        assert_eq!(phases[2].len(), 3 + 1 + 10, "terminals, the operator, contacts");
        let (phases, _) = setup_phases(&ids, 10, 3, &"pos=1".parse().unwrap(), true);
        assert_eq!(phases[2].len(), 4, "no contacts without coupons");
        let (phases, _) = setup_phases(&ids, 10, 3, &Mix::default(), false);
        assert_eq!(phases.len(), 2, "no merchant for transfers only");
    }
}
