//! Placement of the state on shards.
//!
//! Every entry of [`State`] is filed under one [`Key`]: an id (of an account, a hold, a user, a
//! bill, a transfer...) or a coupon code's keyed hash. Everything filed under one key is its
//! [`Bucket`], and a bucket lives on shard `key.shard(n)`. A command names its keys (the ids in
//! its body, [`command_keys`]); commands whose keys depend on the state (a capture needs its
//! hold's accounts, a settlement its terminal's merchant's account) follow the references of the
//! buckets they reach ([`StateMachine::references`]) until nothing new turns up. The runtime
//! moves the buckets a command needs to the shard that runs it and back afterwards
//! (`crate::shards`), so `commit`'s code is the same on one shard or many.

use std::collections::BTreeSet;

use super::accounts::MovementRecord;
use super::coupons::{self, RedemptionRecord};
use super::pos::{FailureWindow, SettlementRecord};
use super::{
    Account, ApiKey, Authorization, Bill, Config, Coupon, Hold, Merchant, Operator, Split, State, StateMachine,
    Terminal,
};
use crate::command::{Command, ObjectKind, Principal, Submission};
use crate::types::{Id, TimestampMs};

/// What a piece of state is filed under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// An id: of an account, transfer, deposit, hold, merchant, terminal, operator, user,
    /// authorization, settlement, bill, split, coupon, redemption or API key.
    Id(Id),
    /// The keyed hash of a coupon's redemption code (how an operator finds the coupon).
    Code([u8; 32]),
}

impl Key {
    /// The shard (of `shards`) that owns this key. Stable across processes and versions:
    /// 64-bit FNV-1a of the key's bytes.
    pub fn shard(&self, shards: usize) -> usize {
        if shards <= 1 {
            return 0;
        }
        let bytes: &[u8] = match self {
            Key::Id(id) => id.as_str().as_bytes(),
            Key::Code(hash) => hash,
        };
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        ((hash ^ (hash >> 32)) % shards as u64) as usize
    }
}

impl From<&Id> for Key {
    fn from(id: &Id) -> Key {
        Key::Id(id.clone())
    }
}

/// Everything the state files under one key, taken out of one shard to be put into another.
/// Accounts and transfer and deposit ids (nearly every bucket that travels) sit inline; the
/// rest, boxed, only when there is any (a bucket is moved several times on its way).
#[derive(Debug)]
pub struct Bucket {
    key: Key,
    account: Option<Account>,
    movement: (Option<MovementRecord>, Option<MovementRecord>),
    transfer: (Option<u64>, Option<u64>),
    rest: Option<Box<Rest>>,
}

/// The less common parts of a bucket. The `bool`s say whether the object was in its expiry
/// index.
#[derive(Debug, Default)]
struct Rest {
    hold: Option<(Hold, bool)>,
    merchant: Option<Merchant>,
    terminal: Option<Terminal>,
    operator: Option<Operator>,
    authorization: Option<(Authorization, bool)>,
    user_authorizations: Option<Vec<Id>>,
    code_failures: Option<FailureWindow>,
    settlement: Option<SettlementRecord>,
    bill: Option<(Bill, bool)>,
    split: Option<(Split, bool)>,
    contacts: Option<BTreeSet<Id>>,
    coupon: Option<Coupon>,
    pool: Option<BTreeSet<Id>>,
    redemption: Option<RedemptionRecord>,
    api_key: Option<ApiKey>,
    owners: Vec<(ObjectKind, Principal)>,
    contact_requests: Option<BTreeSet<Id>>,
    coupon_code: Option<Id>,
}

impl Rest {
    fn is_empty(&self) -> bool {
        self.hold.is_none()
            && self.merchant.is_none()
            && self.terminal.is_none()
            && self.operator.is_none()
            && self.authorization.is_none()
            && self.user_authorizations.is_none()
            && self.code_failures.is_none()
            && self.settlement.is_none()
            && self.bill.is_none()
            && self.split.is_none()
            && self.contacts.is_none()
            && self.coupon.is_none()
            && self.pool.is_none()
            && self.redemption.is_none()
            && self.api_key.is_none()
            && self.owners.is_empty()
            && self.contact_requests.is_none()
            && self.coupon_code.is_none()
    }
}

impl Bucket {
    /// The key the bucket is filed under.
    pub fn key(&self) -> &Key {
        &self.key
    }
}

/// Removes `id` from `map`, without hashing it when the map is empty (most maps are, for most
/// keys: a transfer's accounts have no holds, bills or coupons).
fn take<V>(map: &mut super::Map<Id, V>, id: &Id) -> Option<V> {
    if map.is_empty() { None } else { map.remove(id) }
}

impl State {
    /// Removes and returns everything filed under `key`.
    pub(crate) fn take_bucket(&mut self, key: &Key) -> Bucket {
        let mut rest = Rest::default();
        let id = match key {
            Key::Code(hash) => {
                rest.coupon_code = self.coupon_codes.remove(hash);
                let rest = (!rest.is_empty()).then(|| Box::new(rest));
                return Bucket {
                    key: key.clone(),
                    account: None,
                    movement: (None, None),
                    transfer: (None, None),
                    rest,
                };
            }
            Key::Id(id) => id,
        };
        let account = self.accounts.remove(id);
        let movement = self.movements.take(id);
        let transfer = self.transfers.take(id);
        rest.hold = take(&mut self.holds, id).map(|hold| {
            let indexed = self.hold_expiry.remove(&(hold.expires_at_ms, id.clone()));
            (hold, indexed)
        });
        rest.merchant = take(&mut self.merchants, id);
        rest.terminal = take(&mut self.terminals, id);
        rest.operator = take(&mut self.operators, id);
        rest.authorization = take(&mut self.authorizations, id).map(|authorization| {
            let indexed = self.authorization_expiry.remove(&(authorization.expires_at_ms, id.clone()));
            (authorization, indexed)
        });
        rest.user_authorizations = take(&mut self.user_authorizations, id);
        rest.code_failures = take(&mut self.code_failures, id);
        rest.settlement = take(&mut self.settlements, id);
        rest.bill = take(&mut self.bills, id).map(|bill| {
            let indexed = self.bill_expiry.remove(&(bill.closes_at_ms, id.clone()));
            (bill, indexed)
        });
        rest.split = take(&mut self.splits, id).map(|split| {
            let indexed = self.split_expiry.remove(&(split.expires_at_ms, id.clone()));
            (split, indexed)
        });
        rest.contacts = take(&mut self.contacts, id);
        rest.coupon = take(&mut self.coupons, id);
        rest.pool = take(&mut self.pools, id);
        rest.redemption = take(&mut self.redemptions, id);
        rest.api_key = take(&mut self.api_keys, id);
        rest.contact_requests = take(&mut self.contact_requests, id);
        if !self.owners.is_empty() {
            for kind in ObjectKind::ALL {
                if let Some(owner) = self.owners.remove(&(kind, id.clone())) {
                    rest.owners.push((kind, owner));
                }
            }
        }
        let rest = (!rest.is_empty()).then(|| Box::new(rest));
        Bucket { key: key.clone(), account, movement, transfer, rest }
    }

    /// Files a bucket taken from another shard's state under its key here.
    pub(crate) fn put_bucket(&mut self, bucket: Bucket) {
        let Bucket { key, account, movement, transfer, rest } = bucket;
        let id = match key {
            Key::Code(hash) => {
                if let Some(coupon) = rest.and_then(|rest| rest.coupon_code) {
                    self.coupon_codes.insert(hash, coupon);
                }
                return;
            }
            Key::Id(id) => id,
        };
        if let Some(account) = account {
            self.accounts.insert(id.clone(), account);
        }
        self.movements.put(&id, movement);
        self.transfers.put(&id, transfer);
        let Some(rest) = rest else { return };
        let rest = *rest;
        if let Some((hold, indexed)) = rest.hold {
            if indexed {
                self.hold_expiry.insert((hold.expires_at_ms, id.clone()));
            }
            self.holds.insert(id.clone(), hold);
        }
        if let Some(merchant) = rest.merchant {
            self.merchants.insert(id.clone(), merchant);
        }
        if let Some(terminal) = rest.terminal {
            self.terminals.insert(id.clone(), terminal);
        }
        if let Some(operator) = rest.operator {
            self.operators.insert(id.clone(), operator);
        }
        if let Some((authorization, indexed)) = rest.authorization {
            if indexed {
                self.authorization_expiry.insert((authorization.expires_at_ms, id.clone()));
            }
            self.authorizations.insert(id.clone(), authorization);
        }
        if let Some(list) = rest.user_authorizations {
            self.user_authorizations.insert(id.clone(), list);
        }
        if let Some(window) = rest.code_failures {
            self.code_failures.insert(id.clone(), window);
        }
        if let Some(settlement) = rest.settlement {
            self.settlements.insert(id.clone(), settlement);
        }
        if let Some((bill, indexed)) = rest.bill {
            if indexed {
                self.bill_expiry.insert((bill.closes_at_ms, id.clone()));
            }
            self.bills.insert(id.clone(), bill);
        }
        if let Some((split, indexed)) = rest.split {
            if indexed {
                self.split_expiry.insert((split.expires_at_ms, id.clone()));
            }
            self.splits.insert(id.clone(), split);
        }
        if let Some(contacts) = rest.contacts {
            self.contacts.insert(id.clone(), contacts);
        }
        if let Some(coupon) = rest.coupon {
            self.coupons.insert(id.clone(), coupon);
        }
        if let Some(pool) = rest.pool {
            self.pools.insert(id.clone(), pool);
        }
        if let Some(redemption) = rest.redemption {
            self.redemptions.insert(id.clone(), redemption);
        }
        if let Some(api_key) = rest.api_key {
            self.api_keys.insert(id.clone(), api_key);
        }
        if let Some(requests) = rest.contact_requests {
            self.contact_requests.insert(id.clone(), requests);
        }
        for (kind, owner) in rest.owners {
            self.owners.insert((kind, id.clone()), owner);
        }
    }

    /// Every key something is filed under (for re-partitioning and placement checks).
    pub(crate) fn bucket_keys(&self) -> BTreeSet<Key> {
        let mut keys = BTreeSet::new();
        let mut add = |id: &Id| {
            keys.insert(Key::Id(id.clone()));
        };
        self.accounts.keys().for_each(&mut add);
        self.movements.ids().for_each(&mut add);
        self.transfers.ids().for_each(&mut add);
        self.holds.keys().for_each(&mut add);
        self.merchants.keys().for_each(&mut add);
        self.terminals.keys().for_each(&mut add);
        self.operators.keys().for_each(&mut add);
        self.authorizations.keys().for_each(&mut add);
        self.user_authorizations.keys().for_each(&mut add);
        self.code_failures.keys().for_each(&mut add);
        self.settlements.keys().for_each(&mut add);
        self.bills.keys().for_each(&mut add);
        self.splits.keys().for_each(&mut add);
        self.contacts.keys().for_each(&mut add);
        self.coupons.keys().for_each(&mut add);
        self.pools.keys().for_each(&mut add);
        self.redemptions.keys().for_each(&mut add);
        self.api_keys.keys().for_each(&mut add);
        self.owners.keys().for_each(|(_, id)| add(id));
        self.contact_requests.keys().for_each(&mut add);
        keys.extend(self.coupon_codes.keys().map(|hash| Key::Code(*hash)));
        keys
    }

    /// An empty state at the same point in time as `self` (same `now`, same idempotency
    /// generations), to receive buckets.
    pub(crate) fn empty_like(&self) -> State {
        State {
            movements: self.movements.empty_like(),
            transfers: self.transfers.empty_like(),
            now_ms: self.now_ms,
            ..State::default()
        }
    }

    /// Keys of the objects whose expiry is due at `now` (what a tick will touch first).
    pub(crate) fn expiring_keys(&self, now: TimestampMs) -> Vec<Key> {
        let due = |(at, id): &(TimestampMs, Id)| (*at <= now).then(|| Key::Id(id.clone()));
        let mut keys = Vec::new();
        keys.extend(self.hold_expiry.iter().map_while(due));
        keys.extend(self.bill_expiry.iter().map_while(due));
        keys.extend(self.split_expiry.iter().map_while(due));
        keys.extend(self.authorization_expiry.iter().map_while(due));
        keys
    }
}

impl StateMachine {
    /// Keys that the objects filed under `key` refer to (a hold's accounts, a terminal's
    /// merchant, a merchant's account, a user's authorizations, a coupon's sharer and the reward
    /// it would give...). A command whose keys depend on the state gathers these transitively.
    pub(crate) fn references(&self, key: &Key) -> Vec<Key> {
        let state = &self.state;
        let id = match key {
            Key::Code(hash) => return state.coupon_codes.get(hash).map(Key::from).into_iter().collect(),
            Key::Id(id) => id,
        };
        let mut refs: Vec<Key> = Vec::new();
        let mut add = |id: &Id| refs.push(Key::from(id));
        if let Some(hold) = state.holds.get(id) {
            add(&hold.from);
            add(&hold.to);
        }
        if let Some(merchant) = state.merchants.get(id) {
            add(&merchant.account);
        }
        if let Some(terminal) = state.terminals.get(id) {
            add(&terminal.merchant);
        }
        if let Some(operator) = state.operators.get(id) {
            add(&operator.merchant);
        }
        if let Some(authorization) = state.authorizations.get(id) {
            add(&authorization.user);
            add(&authorization.account);
        }
        for authorization in state.user_authorizations.get(id).into_iter().flatten() {
            add(authorization);
        }
        if let Some(settlement) = state.settlements.get(id) {
            add(&settlement.user);
            add(&settlement.terminal);
            if let Some(coupon) = &settlement.coupon {
                add(coupon);
            }
            if let Some(effect) = &settlement.effect {
                add(&effect.account);
                add(&effect.merchant_account);
            }
        }
        if let Some(bill) = state.bills.get(id) {
            add(&bill.user);
            add(&bill.account);
            add(&bill.merchant);
        }
        if let Some(split) = state.splits.get(id) {
            add(&split.requester);
            add(&split.requester_account);
            for member in &split.members {
                add(&member.user);
                add(&member.account);
            }
        }
        if let Some(coupon) = state.coupons.get(id) {
            // Its current code's index entry (a claim replaces the code).
            let code = coupons::derive_coupon_code(&self.config.secret_key, id, coupon.code_nonce);
            refs.push(Key::Code(coupons::coupon_index(&self.config.secret_key, &code)));
            let mut add = |id: &Id| refs.push(Key::from(id));
            add(&coupon.merchant);
            add(&coupon.holder);
            add(&coupon.issued_to);
            if let Some(sharer) = &coupon.shared_by {
                add(sharer);
            }
            if coupon.reward.is_some() {
                // The reward coupon a redemption would create, and its code's index entry.
                let reward = self.reward_id(id);
                let code =
                    coupons::derive_coupon_code(&self.config.secret_key, &reward, coupons::reward_nonce(coupon.nonce));
                refs.push(Key::Code(coupons::coupon_index(&self.config.secret_key, &code)));
                refs.push(Key::Id(reward));
            }
        }
        refs
    }
}

/// The keys a submission names (its command's body and its principal, whose merchant, terminal
/// or operator the rules may read), and whether it may reach more through the state (`true`:
/// the runtime follows [`StateMachine::references`] from these, with every shard taking part).
/// Commands that return `false` touch exactly the buckets listed.
pub(crate) fn command_keys(config: &Config, submission: &Submission) -> (Vec<Key>, bool) {
    let (mut keys, follows) = body_keys(config, &submission.command);
    match &submission.principal {
        Principal::Admin | Principal::App(_) => {}
        Principal::Merchant(id) | Principal::Operator(id) | Principal::Terminal(id) => keys.push(Key::from(id)),
    }
    (keys, follows)
}

fn body_keys(config: &Config, command: &Command) -> (Vec<Key>, bool) {
    let key = Key::from;
    match command {
        Command::OpenAccount(open) => (vec![key(&open.account)], false),
        Command::CloseAccount { account } => (vec![key(account)], false),
        Command::Deposit(movement) | Command::Withdraw(movement) => {
            (vec![key(&movement.account), key(&movement.id)], false)
        }
        Command::Transfer(transfer) => (vec![key(&transfer.from), key(&transfer.to), key(&transfer.id)], false),
        Command::TransferBatch(batch) => {
            let mut keys = Vec::with_capacity(batch.transfers.len() * 3);
            for transfer in &batch.transfers {
                keys.extend([key(&transfer.from), key(&transfer.to), key(&transfer.id)]);
            }
            (keys, false)
        }
        Command::PlaceHold(place) => (vec![key(&place.from), key(&place.to), key(&place.id)], false),
        Command::CaptureHold(capture) => (vec![key(&capture.hold)], true),
        Command::VoidHold { hold } => (vec![key(hold)], true),
        Command::RegisterMerchant(register) => (vec![key(&register.merchant), key(&register.account)], false),
        Command::RegisterTerminal(register) => (vec![key(&register.terminal), key(&register.merchant)], false),
        Command::RegisterOperator(register) => (vec![key(&register.operator), key(&register.merchant)], false),
        Command::Authorize(authorize) => {
            (vec![key(&authorize.user), key(&authorize.id), key(&authorize.account)], true)
        }
        Command::SettlePos(settle) => {
            let mut keys = vec![key(&settle.user), key(&settle.id), key(&settle.terminal)];
            keys.extend(settle.coupon.as_ref().map(key));
            (keys, true)
        }
        Command::ReversePos { settlement } => (vec![key(settlement)], true),
        Command::OpenBill(open) => {
            (vec![key(&open.bill), key(&open.user), key(&open.account), key(&open.merchant)], true)
        }
        Command::AddBillItem(add) => (vec![key(&add.bill), key(&add.terminal)], true),
        Command::SubmitBill(submit) => (vec![key(&submit.bill)], true),
        Command::ConfirmBill(confirm) => {
            let mut keys = vec![key(&confirm.bill)];
            keys.extend(confirm.coupon.as_ref().map(key));
            (keys, true)
        }
        Command::CancelBill { bill } => (vec![key(bill)], true),
        Command::RequestSplit(request) => {
            let mut keys = vec![key(&request.split), key(&request.requester), key(&request.requester_account)];
            for member in &request.members {
                keys.extend([key(&member.user), key(&member.account)]);
            }
            (keys, true)
        }
        Command::PaySplitShare(pay) => (vec![key(&pay.split), key(&pay.member)], true),
        Command::CancelSplit { split } => (vec![key(split)], true),
        Command::AddContact(add) => (vec![key(&add.user), key(&add.contact)], false),
        Command::IssueCoupon(issue) => {
            let code = coupons::derive_coupon_code(&config.secret_key, &issue.coupon, issue.nonce);
            let index = coupons::coupon_index(&config.secret_key, &code);
            (vec![key(&issue.coupon), key(&issue.merchant), key(&issue.holder), Key::Code(index)], false)
        }
        Command::ShareCoupon(share) => (vec![key(&share.coupon), key(&share.user)], true),
        Command::ClaimCoupon(claim) => {
            let code = coupons::derive_coupon_code(&config.secret_key, &claim.coupon, claim.nonce);
            let index = coupons::coupon_index(&config.secret_key, &code);
            (vec![key(&claim.coupon), key(&claim.claimer), Key::Code(index)], true)
        }
        Command::RedeemCoupon(redeem) => {
            let index = coupons::coupon_index(&config.secret_key, &redeem.code);
            (vec![key(&redeem.operator), key(&redeem.id), Key::Code(index)], true)
        }
        Command::RegisterApiKey(register) => {
            let mut keys = vec![key(&register.key_id)];
            if let Principal::Operator(id) | Principal::Terminal(id) = &register.role {
                keys.push(key(id));
            }
            (keys, false)
        }
        Command::RevokeApiKey { key_id } => (vec![key(key_id)], false),
        Command::Tick => (Vec::new(), true),
    }
}
