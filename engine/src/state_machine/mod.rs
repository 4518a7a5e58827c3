//! The functional core: `commit(now, &batch) -> outcomes + events`.
//!
//! Architecture Invariant: this module does no IO, reads no clock, spawns nothing and draws no
//! randomness. Time and nonces arrive inside the batch. Given the same configuration, the same
//! sequence of `(now, batch)` yields the same outcomes, events and state, which is what lets
//! recovery replay the write-ahead log through this very code.
//!
//! Each flow lives in its own file and adds methods to [`StateMachine`]:
//! `accounts` (open, close, deposit, withdraw, transfers), `holds`, `pos` (secure codes and
//! settlement), `bills`, `splits`, `coupons` (with the pure rule arithmetic in `rules`).

mod accounts;
mod annotate;
mod archive;
mod authorizations;
mod bills;
mod checks;
mod coupons;
mod holds;
mod idempotency;
mod invariants;
mod lists;
mod pos;
mod queries;
mod recall;
mod reference;
mod refunds;
mod registry;
pub mod rules;
mod secrets;
mod snapshot;
mod split_map;
mod splits;
mod tenancy;
mod transit;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::command::{
    Change, Command, Event, ObjectKind, Outcome, Posting, PostingCause, Principal, Rejection, Submission,
};
use crate::constants::{AMOUNT_MINOR_MAX, BATCH_COMMANDS_MAX};
use crate::partition::{CheckedAccount, HOME_PARTITION, Outgoing, PartitionId, Placement, TransitMessage};
use crate::types::{Currency, Id, TimestampMs};
use idempotency::IdKind;
pub(crate) use snapshot::PRESIZE_ENTRIES_MAX;
use snapshot::presized;

pub use accounts::Account;
pub use archive::{
    ArchiveList, Archived, ArchivedAuthorization, ArchivedBill, ArchivedCoupon, ArchivedHold, ArchivedKind,
    ArchivedRedemption, ArchivedSettlement, ArchivedSplit, ClaimForRead, KnownClaims, ReadVerdict,
};
pub use authorizations::{Authorization, AuthorizationState};
pub use bills::{Bill, BillItem, BillState};
pub use coupons::{Coupon, CouponState};
pub use holds::{Hold, HoldState};
#[cfg(feature = "storage")]
pub(crate) use idempotency::IdHasher;
pub use idempotency::{IdTable, PROBE_BUCKETS_MAX};
pub use pos::{Merchant, Operator, SettlementSummary, Terminal};
pub use recall::ForgottenId;
pub use reference::{ReferenceStream, missed_references};
pub use refunds::RefundEntry;
pub use registry::ApiKey;
pub use secrets::SecretKey;
pub(crate) use secrets::is_code;
pub use split_map::SplitMap;
pub use splits::{Split, SplitState};
pub use transit::Transit;

/// Hash map used for all state: fast, with per-process random keys against hash flooding.
/// Architecture Invariant: no decision ever depends on its iteration order.
pub type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// Configuration of a state machine. The secret key derives and verifies secure codes.
#[derive(Clone)]
pub struct Config {
    /// Server key for secure codes, bill challenges, coupon codes and approval codes.
    pub secret_key: SecretKey,
    /// Most transfer, deposit and withdrawal ids remembered at once ([`IdTable`], 32 bytes
    /// each); a machine restored from a snapshot keeps the size it was created with.
    pub ids_max: usize,
    /// The idempotency table's hash key, derived from the secret key.
    id_hasher: idempotency::IdHasher,
    /// How long a resolved object stays in memory before it moves to storage (`archive.rs`):
    /// by default never (`u64::MAX`: a machine without storage has nowhere to move it); the
    /// engine sets its `EngineConfig::resolved_in_memory_ms`.
    pub resolved_in_memory_ms: u64,
    /// Where accounts live, and which partition this machine is.
    placement: Placement,
    partition: PartitionId,
}

impl Config {
    /// A configuration with `secret_key` and room for [`IDS_MAX_DEFAULT`] remembered ids.
    pub fn new(secret_key: SecretKey) -> Config {
        Config::with_ids_max(secret_key, IDS_MAX_DEFAULT)
    }

    /// A configuration remembering at most `ids_max` transfer, deposit and withdrawal ids.
    pub fn with_ids_max(secret_key: SecretKey, ids_max: usize) -> Config {
        let derived = secret_key.hash("idempotency table", &[]);
        let key: [u8; 16] = derived[..16].try_into().expect("16 of 32 bytes");
        let placement = Placement::new(placement_key(&secret_key), 1);
        Config {
            secret_key,
            ids_max,
            resolved_in_memory_ms: u64::MAX,
            id_hasher: idempotency::IdHasher::new(key),
            placement,
            partition: HOME_PARTITION,
        }
    }

    /// This configuration for partition `partition` of `count` (accounts placed by a hash keyed
    /// from the secret key).
    pub fn for_partition(mut self, partition: PartitionId, count: u16) -> Config {
        assert!(partition < count, "partition {partition} of {count}");
        self.placement = Placement::new(placement_key(&self.secret_key), count);
        self.partition = partition;
        self
    }

    /// Where accounts live.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The keyed hash of transfer ids (the transfer index's keys, as the id table's).
    #[cfg(feature = "storage")]
    pub(crate) fn id_hasher(&self) -> &IdHasher {
        &self.id_hasher
    }
}

/// The key of [`Placement`]'s hash, derived from the secret key.
fn placement_key(secret_key: &SecretKey) -> [u8; 16] {
    secret_key.hash("partition placement", &[])[..16].try_into().expect("16 of 32 bytes")
}

/// Remembered ids by default: 4,194,304 (a 128 MiB table, mapped by the OS as it fills; the
/// engine holds it twice, with the snapshotter's replica). Size it to the ids a deployment
/// applies in two days (`kassa serve --ids-max`).
pub const IDS_MAX_DEFAULT: usize = 1 << 22;

/// The most ids a table may be sized for: 2^32 (a 128 GiB table). Checked when an engine opens
/// and when a snapshot's table is decoded, so no size, configured or read, allocates beyond it.
pub const IDS_MAX_MAX: usize = 1 << 32;

/// Money that entered or left the system, per currency (the two sides of conservation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Sum of deposits.
    pub deposited: u128,
    /// Sum of withdrawals.
    pub withdrawn: u128,
}

/// Everything the engine knows. Serializable so that the runtime can snapshot it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(deserialize_with = "presized")]
    pub(crate) accounts: Map<Id, Account>,
    /// Applied transfer, deposit and withdrawal ids with their bodies' fingerprints, for
    /// idempotent repeats (bounded: see [`IdTable`]).
    pub(crate) ids: IdTable,
    #[serde(deserialize_with = "presized")]
    pub(crate) holds: Map<Id, Hold>,
    pub(crate) hold_expiry: BTreeSet<(TimestampMs, Id)>,
    pub(crate) merchants: Map<Id, Merchant>,
    pub(crate) terminals: Map<Id, Terminal>,
    pub(crate) operators: Map<Id, Operator>,
    /// A plain map (boxed values): a settlement looks up each of the user's authorizations,
    /// and a split map's second hash per lookup cost 30 % of POS throughput (BENCHMARKS.md).
    #[serde(deserialize_with = "presized")]
    pub(crate) authorizations: Map<Id, Box<Authorization>>,
    /// Each user's authorizations whose codes are remembered, with what a sale compares (the
    /// code's keyed hash and expiry, fixed at creation): a sale scans the list without a map
    /// lookup per entry.
    pub(crate) user_authorizations: Map<Id, Vec<authorizations::ListedCode>>,
    pub(crate) authorization_expiry: BTreeSet<(TimestampMs, Id)>,
    pub(crate) code_failures: Map<Id, pos::FailureWindow>,
    /// Evicted authorizations still in their user's list: their codes' answers, until the
    /// codes are forgotten (`authorizations/retired.rs`).
    pub(crate) retired_authorizations: Map<Id, authorizations::Retired>,
    /// When each retired code is forgotten, in order. Derived from `retired_authorizations`
    /// (rebuilt when a snapshot is decoded, not stored).
    #[serde(skip)]
    pub(crate) retired_expiry: BTreeSet<(TimestampMs, Id)>,
    /// Resolved objects by when they resolved, oldest first: each leaves memory
    /// for storage once `Config::resolved_in_memory_ms` has passed (`archive.rs`).
    pub(crate) resolved: VecDeque<(TimestampMs, ArchivedKind, Id)>,
    /// When each user's wrong-code window ends, in order: a tick forgets the windows that
    /// ended, so memory holds only users with recent wrong codes. Derived from `code_failures`
    /// (rebuilt when a snapshot is decoded, not stored).
    #[serde(skip)]
    pub(crate) code_failure_expiry: BTreeSet<(TimestampMs, Id)>,
    pub(crate) settlements: SplitMap<Box<pos::SettlementRecord>>,
    pub(crate) bills: Map<Id, Bill>,
    pub(crate) bill_expiry: BTreeSet<(TimestampMs, Id)>,
    pub(crate) splits: Map<Id, Split>,
    pub(crate) split_expiry: BTreeSet<(TimestampMs, Id)>,
    pub(crate) contacts: Map<Id, BTreeSet<Id>>,
    pub(crate) coupons: SplitMap<Box<Coupon>>,
    pub(crate) coupon_codes: Map<[u8; 32], Id>,
    /// Unredeemed coupons by the end of their validity: each is queued to leave memory then
    /// (`coupons/retention.rs`).
    pub(crate) coupon_expiry: BTreeSet<(TimestampMs, Id)>,
    /// The coupons each user holds (any state, rewards included), in id order: the list a
    /// holder's app pages through.
    pub(crate) holdings: Map<Id, BTreeSet<Id>>,
    pub(crate) pools: Map<Id, BTreeSet<Id>>,
    pub(crate) redemptions: SplitMap<Box<coupons::RedemptionRecord>>,
    pub(crate) totals: BTreeMap<Currency, Totals>,
    pub(crate) api_keys: Map<Id, ApiKey>,
    /// Who created each object that is not the admin's, and which app each claimed user
    /// belongs to (`crate::authority`).
    pub(crate) owners: Map<(ObjectKind, Id), Principal>,
    /// The accounts each tenant (app or merchant) opened, in id order: the list it pages through.
    pub(crate) owned_accounts: Map<Principal, BTreeSet<Id>>,
    /// The holds, authorizations, bills and splits each tenant created, in id order: the lists
    /// it pages through. Derived from `owners` (rebuilt when a snapshot is decoded, not stored).
    #[serde(skip)]
    pub(crate) owned_objects: Map<(Principal, ObjectKind), BTreeSet<Id>>,
    /// The POS settlements made at each merchant's terminals, in id order. Derived from
    /// `settlements` and `terminals` (rebuilt when a snapshot is decoded, not stored).
    #[serde(skip)]
    pub(crate) merchant_settlements: Map<Id, BTreeSet<Id>>,
    /// The splits each user is a member of (owes a share in), in id order. Derived from `splits`.
    #[serde(skip)]
    pub(crate) member_splits: Map<Id, BTreeSet<Id>>,
    /// Paid shares of open splits per member account: money a cancel or an expiry pays back
    /// there, so the account may not close. Derived from `splits`.
    #[serde(skip)]
    pub(crate) escrowed_shares: Map<Id, u32>,
    /// Settlements tried at terminal ids not registered (all refused): listed under the merchant
    /// that registers the terminal, if one ever does. Derived like `merchant_settlements`.
    #[serde(skip)]
    pub(crate) orphan_settlements: Map<Id, BTreeSet<Id>>,
    /// Contact requests across apps, waiting for the other side's consent: requester -> users.
    pub(crate) contact_requests: Map<Id, BTreeSet<Id>>,
    /// Money on its way to and from other partitions (empty with one partition).
    pub(crate) transit: Transit,
    /// Merchants, terminals and operators on their way from the home partition to the others
    /// (`reference.rs`; empty with one partition).
    pub(crate) reference: ReferenceStream,
    /// Highest `now` committed so far; time never runs backwards inside the machine.
    pub(crate) now_ms: TimestampMs,
    /// Records committed on this partition: its position in its own log, the same on every
    /// engine that applied the same records (`StateMachine::position`).
    pub(crate) position: u64,
}

/// What one `commit` produced: one outcome per command, in order, the events, and what
/// crosses partitions.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CommitOutput {
    /// `outcomes[i]` answers `batch[i]`.
    pub outcomes: Vec<Outcome>,
    /// Events of the applied commands, in order.
    pub events: Vec<Event>,
    /// Messages to other partitions, to send once the batch is queued for the writer (which
    /// makes a batch durable only after every batch queued before it).
    pub outgoing: Vec<Outgoing>,
    /// `(i, number)`: `outcomes[i]` is not final: message `number` (a transfer's or a capture's
    /// credit, a placement's payee check) is on its way to another partition (`outcomes[i]` is
    /// a placeholder until its answer comes).
    pub pending: Vec<(usize, u64)>,
    /// `(number, outcome)`: the final outcome of a command that was pending on message `number`.
    pub completed: Vec<(u64, Outcome)>,
    /// Resolved objects that left memory, for storage (in the same write as the batch).
    pub archived: Vec<Archived>,
}

impl CommitOutput {
    /// Empties every vector, keeping their allocations for the next batch.
    pub fn clear(&mut self) {
        self.outcomes.clear();
        self.events.clear();
        self.outgoing.clear();
        self.pending.clear();
        self.completed.clear();
        self.archived.clear();
    }
}

/// The deterministic state machine of kassa (one partition's, when there are several).
pub struct StateMachine {
    config: Config,
    state: State,
    /// Set by a transfer that went into transit: its credit's number.
    pending: Option<u64>,
    /// Messages produced by the command being applied.
    outgoing: Vec<Outgoing>,
    /// The id hashes of a batch's money commands, computed before it is applied
    /// ([`IdTable::warm`]); reused from batch to batch.
    warming: Vec<idempotency::IdHash>,
    /// Objects the batch being applied took out of memory (`archive.rs`).
    archived: Vec<Archived>,
    /// Hold ids that live on other partitions, as the batch's messages say
    /// ([`TransitMessage::HoldElsewhere`]): a POS settlement may not take them.
    holds_elsewhere: std::collections::HashSet<Id>,
    /// While a command applies again with its accounts' checks answered (`transit/holds.rs`):
    /// each account and what its partition answered (a split's several, one after another).
    checked: Vec<(Id, Result<CheckedAccount, Rejection>)>,
    /// While a command applies again with its user's claim answered (`transit/claims.rs`): the
    /// user and the app it belongs to.
    claimed: Option<(Id, Principal)>,
    /// While a sale applies again with its coupon priced on another partition
    /// (`transit/coupons.rs`): the coupon and the price, taken by the sale that uses it.
    quoted: Option<(Id, Result<u64, Rejection>)>,
    /// Credits of split refunds and releases the command being applied sent, whose answers its
    /// outcome waits for (`transit/splits.rs`).
    joining: Vec<u64>,
    /// While a linked batch applies again with its payees elsewhere reserved: their answers
    /// (`transit/linked.rs`).
    reserved_legs: Vec<transit::LegAnswer>,
    /// Whether the paged lists' indexes are kept (`lists.rs`): not by a snapshotter's replica,
    /// which answers no query ([`StateMachine::replica_of`]).
    keeps_lists: bool,
}

impl StateMachine {
    /// An empty machine.
    pub fn new(config: Config) -> StateMachine {
        let state = State { ids: IdTable::with_capacity(config.ids_max), ..State::default() };
        StateMachine::with_state(config, state)
    }

    fn with_state(config: Config, state: State) -> StateMachine {
        StateMachine {
            config,
            state,
            pending: None,
            outgoing: Vec::new(),
            warming: Vec::new(),
            archived: Vec::new(),
            holds_elsewhere: std::collections::HashSet::new(),
            checked: Vec::new(),
            claimed: None,
            quoted: None,
            joining: Vec::new(),
            reserved_legs: Vec::new(),
            keeps_lists: true,
        }
    }

    /// A machine restored from a snapshot of its state.
    pub fn from_state(config: Config, mut state: State) -> StateMachine {
        // The list indexes are not in snapshots: every decoded state derives them here.
        state.derive_indexes();
        StateMachine::with_state(config, state)
    }

    /// The `now` of the last commit (time never runs backwards inside the machine).
    pub fn state_now_ms(&self) -> TimestampMs {
        self.state.now_ms
    }

    /// Encodes the state as a snapshot ([`State::encode_snapshot`]; the state is unchanged).
    pub fn encode_snapshot(&mut self) -> Vec<u8> {
        self.state.encode_snapshot()
    }

    /// Backs the id table with real pages now ([`IdTable::touch_pages`]).
    pub fn touch_id_table(&mut self) {
        self.state.ids.touch_pages();
    }

    /// Money on its way to and from other partitions.
    pub fn transit(&self) -> &Transit {
        &self.state.transit
    }

    /// The configuration (with the partition this machine is).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The state, for snapshots and queries.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Applies `batch` at time `now_ms`, appending one outcome per command and the events to
    /// `output` (which is not cleared first).
    ///
    /// `now_ms` below a previous call's is treated as the previous value: time is monotonic.
    ///
    /// # Panics
    /// If `batch` is longer than `BATCH_COMMANDS_MAX` (the shell bounds its batches), or if an
    /// internal invariant is broken.
    pub fn commit(&mut self, now_ms: TimestampMs, batch: &[Submission], output: &mut CommitOutput) {
        self.commit_with_messages(now_ms, &[], batch, output);
    }

    /// [`StateMachine::commit`] for a partition: first applies `messages` from other partitions
    /// (credits and their answers, in order), then `batch`.
    pub fn commit_with_messages(
        &mut self,
        now_ms: TimestampMs,
        messages: &[TransitMessage],
        batch: &[Submission],
        output: &mut CommitOutput,
    ) {
        assert!(batch.len() <= BATCH_COMMANDS_MAX, "batch larger than BATCH_COMMANDS_MAX");
        let now_ms = self.begin_batch(now_ms);
        self.state.position += 1;
        self.holds_elsewhere.clear();
        for message in messages {
            self.apply_message(now_ms, message, output);
        }
        self.warm_ids(batch);
        let outcomes_before = output.outcomes.len();
        for submission in batch {
            let outcome = self.apply(now_ms, submission, &mut output.events);
            if let Some(number) = self.pending.take() {
                output.pending.push((output.outcomes.len(), number));
            }
            output.outcomes.push(outcome);
        }
        output.outgoing.append(&mut self.outgoing);
        output.archived.append(&mut self.archived);
        assert_eq!(output.outcomes.len() - outcomes_before, batch.len());
    }

    /// Brings the idempotency table's buckets for the batch's money commands into cache, all
    /// misses at once ([`IdTable::warm`]). Each id is hashed again when its command applies: ~20 ns
    /// beside a miss of ~170 ns, and it keeps `apply` free of a cursor into this list (a command
    /// refused before its lookup would shift it); BENCHMARKS.md has the measurement.
    fn warm_ids(&mut self, batch: &[Submission]) {
        let hasher = &self.config.id_hasher;
        self.warming.clear();
        self.warming.extend(batch.iter().filter_map(|submission| match &submission.command {
            Command::Transfer(transfer) => Some(hasher.hash(IdKind::Transfer, &transfer.id)),
            Command::Deposit(movement) | Command::Withdraw(movement) => {
                Some(hasher.hash(IdKind::Movement, &movement.id))
            }
            _ => None,
        }));
        self.state.ids.warm(&self.warming);
    }

    /// Starts a batch at `now_ms` (clamped so that time never runs backwards): sets the clock
    /// and turns idempotency epochs over. Returns the `now` the batch runs at.
    pub(crate) fn begin_batch(&mut self, now_ms: TimestampMs) -> TimestampMs {
        let now_ms = now_ms.max(self.state.now_ms);
        self.state.now_ms = now_ms;
        self.state.ids.advance(now_ms);
        self.archive_resolved(now_ms);
        now_ms
    }

    /// Applies one command of a batch started with [`StateMachine::begin_batch`], if its
    /// principal may submit it (`crate::authority`): the check, the change and the record of
    /// who owns what it created happen in this one step, or not at all.
    pub(crate) fn apply(&mut self, now: TimestampMs, submission: &Submission, events: &mut Vec<Event>) -> Outcome {
        let first = self.misrouted_request(submission).or_else(|| self.check_account_first(submission));
        if let Some(outcome) = first.or_else(|| self.claim_user_first(submission)) {
            return outcome;
        }
        let Submission { principal, command, .. } = submission;
        if let Err(rejection) = self.check_authority(principal, command) {
            return Outcome::Rejected(rejection);
        }
        if let Err(rejection) = self.config.placement.check_accounts_local(self.config.partition, command) {
            return Outcome::Rejected(rejection);
        }
        if let Some(outcome) = self.wait_for_step(submission).or_else(|| self.quote_coupon_first(now, submission)) {
            return outcome;
        }
        let annotating = match self.before_annotating(submission, events) {
            Ok(annotating) => annotating,
            Err(rejection) => return Outcome::Rejected(rejection),
        };
        let mut outcome = self.apply_command(now, submission, events);
        // A command pending on another partition's answer records its owners when it applies
        // again (a placement: `transit/holds.rs`); a transfer or capture creates nothing.
        if outcome.is_applied() && self.pending.is_none() {
            self.record_owners(principal, command);
        }
        if let Some(pending) = annotating {
            self.annotate(pending, submission, &outcome, events);
        }
        Self::redact(principal, &mut outcome);
        if !self.joining.is_empty() {
            // Shares given back or released elsewhere: the outcome waits for their answers.
            assert!(self.pending.is_none(), "a command either waits for one step or joins credits");
            let credits = std::mem::take(&mut self.joining);
            self.pending = Some(self.join_credits(credits, outcome));
            return Outcome::Applied(crate::command::Reply::Done);
        }
        outcome
    }

    fn apply_command(&mut self, now: TimestampMs, submission: &Submission, events: &mut Vec<Event>) -> Outcome {
        let Submission { principal, command, .. } = submission;
        let events_before = events.len();
        let outcome = match command {
            Command::OpenAccount(open) => self.open_account(open, events),
            Command::CloseAccount { account } => self.close_account(account, events),
            Command::Deposit(movement) => self.deposit(movement, events),
            Command::Withdraw(movement) => self.withdraw(movement, events),
            Command::Transfer(transfer) => self.transfer_command(transfer, events),
            Command::TransferBatch(batch) => self.transfer_batch(submission, batch, events),
            Command::PlaceHold(place) => self.place_hold(now, submission, place, events),
            Command::CaptureHold(capture) => self.capture_hold(now, capture, events),
            Command::VoidHold { hold } => self.void_hold(now, hold, events),
            Command::RegisterMerchant(register) => self.register_merchant(register, events),
            Command::RegisterTerminal(register) => self.register_terminal(register, events),
            Command::RegisterOperator(register) => self.register_operator(register, events),
            Command::Authorize(authorize) => self.authorize(now, authorize, events),
            Command::SettlePos(settle) => self.settle_pos(now, settle, events),
            Command::ReversePos { settlement } => self.reverse_pos(submission, settlement, events),
            Command::OpenBill(open) => self.open_bill(now, open, events),
            Command::AddBillItem(add) => self.add_bill_item(now, add, events),
            Command::SubmitBill(submit) => self.submit_bill(now, submit, events),
            Command::ConfirmBill(confirm) => self.confirm_bill(now, confirm, events),
            Command::CancelBill { bill } => self.cancel_bill(bill, events),
            Command::RequestSplit(request) => self.request_split(now, request, events),
            Command::PaySplitShare(pay) => self.pay_split_share(now, principal, pay, events),
            Command::CancelSplit { split } => self.cancel_split(split, events),
            Command::AddContact(add) => self.add_contact(principal, add, events),
            Command::IssueCoupon(issue) => self.issue_coupon(now, issue, events),
            Command::ShareCoupon(share) => self.share_coupon(now, share, events),
            Command::ClaimCoupon(claim) => self.claim_coupon(now, claim, events),
            Command::RedeemCoupon(redeem) => self.redeem_coupon(now, redeem, events),
            Command::RegisterApiKey(register) => self.register_api_key(register, events),
            Command::RevokeApiKey { key_id } => self.revoke_api_key(key_id, events),
            Command::Tick => self.tick(now, events),
            Command::RevokeAuthorization { authorization } => self.revoke_authorization(authorization, events),
            Command::RefundPos(refund) => self.refund_pos(refund, events),
            Command::RefundBill(refund) => self.refund_bill(refund, events),
            Command::RefundSplit { split } => self.refund_completed_split(split, events),
        };
        // Pair assertion: a rejection leaves no trace but brute-force bookkeeping events.
        if !outcome.is_applied() {
            assert!(
                events[events_before..].iter().all(|event| matches!(
                    event,
                    Event::CodeRejected { .. } | Event::Changed { change: Change::Locked, .. }
                )),
                "a rejected command emitted state events"
            );
        }
        outcome
    }

    fn tick(&mut self, now: TimestampMs, events: &mut Vec<Event>) -> Outcome {
        self.expire_funds(now, events);
        let expired = self.expire_holds(now, events)
            + self.expire_bills(now, events)
            + self.expire_splits(now, events)
            + self.expire_authorizations(now, events);
        self.forget_code_failures(now);
        self.forget_spent_codes(now);
        Outcome::Applied(crate::command::Reply::Ticked { expired })
    }

    // ----- shared money primitives -------------------------------------------------------

    /// Checks that `amount` is a valid amount of money to move.
    pub(crate) fn check_amount(amount: u64) -> Result<(), Rejection> {
        if amount == 0 || amount > AMOUNT_MINOR_MAX {
            return Err(Rejection::InvalidAmount);
        }
        Ok(())
    }

    /// Changes an account's posted and held balances and records the posting.
    /// Callers have checked limits; the arithmetic here is still checked and asserted.
    fn post(&mut self, id: &Id, posted_delta: i64, held_delta: i64, cause: PostingCause, events: &mut Vec<Event>) {
        let account = self.state.accounts.get_mut(id).expect("posting to an existing account");
        account.posted = account.posted.checked_add(posted_delta).expect("posted balance within i64");
        account.held = account.held.checked_add_signed(held_delta).expect("held amount never negative");
        events.push(Event::Posting(Posting {
            account: id.clone(),
            posted_delta,
            held_delta,
            posted_after: account.posted,
            held_after: account.held,
            cause,
        }));
    }

    /// Moves `amount` from `from` to `to` (both checked by the caller).
    fn move_money(&mut self, from: &Id, to: &Id, amount: u64, cause: PostingCause, events: &mut Vec<Event>) {
        let delta = i64::try_from(amount).expect("amounts are at most AMOUNT_MINOR_MAX");
        self.post(from, -delta, 0, cause.clone(), events);
        self.post(to, delta, 0, cause, events);
    }

    fn changed(events: &mut Vec<Event>, object: ObjectKind, id: &Id, change: Change) {
        events.push(Event::Changed { object, id: id.clone(), change });
    }
}

#[cfg(test)]
pub(crate) mod tests;
