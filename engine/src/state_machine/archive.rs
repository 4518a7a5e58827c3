//! Resolved objects leave memory. A POS settlement (resolved when it is answered), an
//! authorization (once used, expired or revoked), a hold (once captured, voided or expired), a
//! bill (once paid, cancelled or expired), a split (once completed, cancelled or expired), a
//! coupon (once redeemed or past its validity) and an operator's redemption (once answered)
//! stay in memory for
//! [`Config::resolved_in_memory_ms`](super::Config) of log time after they resolve; then the
//! batch that starts past it takes them out of the state and hands them to the runtime as
//! [`Archived`] (`CommitOutput::archived`), which writes them to storage in the same synced write
//! as the batch's log record (`wal/archive.rs`). So memory holds the active objects and the last
//! window's resolved ones, whatever the history.
//!
//! A settlement that placed a hold (an ISO 8583 0100 pre-authorization) and its hold (same id)
//! leave memory together, when the hold does, and come back together: the hold's rules ask which
//! terminal made the settlement, and a reversal looks at the hold.
//!
//! A command that names an archived object (a retried settlement or authorization, a reversal,
//! a refund, a revocation) finds it in storage through the executor, which puts it in the batch
//! as [`TransitMessage::Restored`](crate::partition::TransitMessage::Restored), logged with it:
//! the machine takes the object back before the command applies, so the command decides exactly
//! as if it had never left, and replay decides alike. An id is never reused for a new object:
//! every id a new settlement or authorization takes is looked for in storage first.
//!
//! An evicted authorization still in its user's list (at most `AUTHORIZATIONS_PER_USER_MAX`)
//! leaves behind its code's keyed hash and state ([`Retired`]), so its code keeps its answer
//! (`code_already_used`, `expired`, `code_revoked`) until the list drops it, as before.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::authorizations::{Authorization, ListedCode};
use super::coupons::RedemptionRecord;
use super::pos::{SettlementRecord, SettlementSummary};
use super::{Bill, Coupon, Hold, Split, StateMachine};
use crate::command::{Command, ObjectKind, Principal, Submission};
use crate::types::Id;

mod facts;

pub use facts::{ClaimForRead, KnownClaims, ReadVerdict};

/// The kinds of object that leave memory once resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ArchivedKind {
    /// A POS settlement (approved or declined).
    Settlement,
    /// A secure-code authorization.
    Authorization,
    /// A hold (placed directly, or by a POS settlement of the same id).
    Hold,
    /// A virtual bill.
    Bill,
    /// A group-payment split.
    Split,
    /// A coupon (redeemed, or past its validity).
    Coupon,
    /// A coupon found by its redemption code: the id is the code's keyed hash in hex, and
    /// storage answers the coupon ([`Archived::keys`]).
    CouponCode,
    /// An operator's redemption of a coupon (its answer, for a retry).
    Redemption,
}

/// An object as the state held it when it left memory. What storage keeps and what
/// `TransitMessage::Restored` brings back are this one type, by decision: the log then records
/// exactly what storage held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Archived {
    /// A POS settlement.
    Settlement(ArchivedSettlement),
    /// A secure-code authorization.
    Authorization(ArchivedAuthorization),
    /// A hold.
    Hold(ArchivedHold),
    /// A virtual bill.
    Bill(ArchivedBill),
    /// A group-payment split.
    Split(ArchivedSplit),
    /// A coupon.
    Coupon(ArchivedCoupon),
    /// An operator's redemption.
    Redemption(ArchivedRedemption),
}

/// A POS settlement out of memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedSettlement {
    /// Its id.
    pub id: Id,
    pub(crate) record: Box<SettlementRecord>,
    /// The merchant of its terminal when it left memory (none: a terminal never registered).
    pub merchant: Option<Id>,
}

/// A secure-code authorization out of memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedAuthorization {
    /// Its id.
    pub id: Id,
    /// The authorization (its code is not kept, only a keyed hash).
    pub authorization: Box<Authorization>,
    /// The tenant that created it (none: the admin).
    pub owner: Option<Principal>,
}

/// A hold out of memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedHold {
    /// Its id.
    pub id: Id,
    /// The hold.
    pub hold: Hold,
    /// The tenant that placed it (none: the admin, or a POS settlement).
    pub owner: Option<Principal>,
}

/// A virtual bill out of memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedBill {
    /// Its id.
    pub id: Id,
    /// The bill.
    pub bill: Bill,
    /// The tenant that opened it (none: the admin).
    pub owner: Option<Principal>,
}

/// A group-payment split out of memory (resolved: its escrow is empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedSplit {
    /// Its id.
    pub id: Id,
    /// The split.
    pub split: Split,
    /// The tenant that requested it (none: the admin).
    pub owner: Option<Principal>,
}

/// A coupon out of memory (redeemed, or past its validity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedCoupon {
    /// Its id.
    pub id: Id,
    /// The coupon.
    pub coupon: Box<Coupon>,
    /// The keyed hash of its current redemption code (what a redemption finds it by).
    pub(crate) code_index: [u8; 32],
}

impl ArchivedCoupon {
    /// `coupon` as its own facts for a read rule (no code index: nothing is found by it).
    #[cfg_attr(not(feature = "storage"), allow(dead_code))] // the runtime's reads use it
    pub(crate) fn of(id: &Id, coupon: &Coupon) -> ArchivedCoupon {
        ArchivedCoupon { id: id.clone(), coupon: Box::new(coupon.clone()), code_index: [0; 32] }
    }
}

/// An operator's redemption out of memory: what it asked and answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedRedemption {
    /// The redemption's id.
    pub id: Id,
    pub(crate) record: Box<RedemptionRecord>,
}

/// A list that an archived object stays in (`wal/archive.rs` keeps one key per entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveList {
    /// The POS settlements made at a merchant's terminals.
    MerchantSettlements(Id),
    /// The objects of a kind (authorizations, holds, bills, splits) a tenant created.
    Owned(ArchivedKind, Principal),
    /// The splits a user is a member of.
    MemberSplits(Id),
    /// The coupons a user holds.
    HeldCoupons(Id),
}

impl Archived {
    /// Its kind.
    pub fn kind(&self) -> ArchivedKind {
        match self {
            Archived::Settlement(_) => ArchivedKind::Settlement,
            Archived::Authorization(_) => ArchivedKind::Authorization,
            Archived::Hold(_) => ArchivedKind::Hold,
            Archived::Bill(_) => ArchivedKind::Bill,
            Archived::Split(_) => ArchivedKind::Split,
            Archived::Coupon(_) => ArchivedKind::Coupon,
            Archived::Redemption(_) => ArchivedKind::Redemption,
        }
    }

    /// Its id.
    pub fn id(&self) -> &Id {
        match self {
            Archived::Settlement(settlement) => &settlement.id,
            Archived::Authorization(authorization) => &authorization.id,
            Archived::Hold(hold) => &hold.id,
            Archived::Bill(bill) => &bill.id,
            Archived::Split(split) => &split.id,
            Archived::Coupon(coupon) => &coupon.id,
            Archived::Redemption(redemption) => &redemption.id,
        }
    }

    /// Every key storage finds it by: its kind and id, then (a coupon) its code's hash.
    pub fn keys(&self) -> Vec<(ArchivedKind, Id)> {
        let mut keys = vec![(self.kind(), self.id().clone())];
        if let Archived::Coupon(coupon) = self {
            keys.push((ArchivedKind::CouponCode, code_key(&coupon.code_index)));
        }
        keys
    }

    /// The lists it is in.
    pub fn lists(&self) -> Vec<ArchiveList> {
        let owned = |kind: ArchivedKind, owner: &Option<Principal>| {
            owner.iter().map(move |owner| ArchiveList::Owned(kind, owner.clone())).collect::<Vec<_>>()
        };
        match self {
            Archived::Settlement(settlement) => {
                settlement.merchant.iter().map(|merchant| ArchiveList::MerchantSettlements(merchant.clone())).collect()
            }
            Archived::Authorization(authorization) => owned(ArchivedKind::Authorization, &authorization.owner),
            Archived::Hold(hold) => owned(ArchivedKind::Hold, &hold.owner),
            Archived::Bill(bill) => owned(ArchivedKind::Bill, &bill.owner),
            Archived::Split(split) => {
                let mut lists = owned(ArchivedKind::Split, &split.owner);
                let members = split.split.members.iter().map(|member| ArchiveList::MemberSplits(member.user.clone()));
                lists.extend(members);
                lists
            }
            Archived::Coupon(coupon) => vec![ArchiveList::HeldCoupons(coupon.coupon.holder.clone())],
            Archived::Redemption(_) => Vec::new(),
        }
    }
}

impl Archived {
    /// The object that leaves and comes back with this one, if it may exist: a POS settlement
    /// that placed a hold brings its hold; a hold, the settlement that may have placed it.
    pub fn companion(&self) -> Option<(ArchivedKind, Id)> {
        match self {
            Archived::Settlement(settlement) => settlement
                .record
                .effect
                .as_ref()
                .is_some_and(|effect| effect.held)
                .then(|| (ArchivedKind::Hold, settlement.id.clone())),
            Archived::Hold(hold) => Some((ArchivedKind::Settlement, hold.id.clone())),
            _ => None,
        }
    }
}

impl ArchivedSettlement {
    /// What it was asked and answered.
    pub fn summary(&self) -> SettlementSummary {
        self.record.summary()
    }

    /// The terminal it was made at.
    pub fn terminal(&self) -> &Id {
        &self.record.terminal
    }
}

impl StateMachine {
    /// Notes that object `id` resolved now: it leaves memory once the window has passed.
    pub(super) fn resolved(&mut self, kind: ArchivedKind, id: &Id) {
        if self.config.resolved_in_memory_ms == u64::MAX {
            return; // Never leaves: no need to queue it.
        }
        self.state.resolved.push_back((self.state.now_ms, kind, id.clone()));
    }

    /// Takes out of memory every object resolved at least the window before `now` (into
    /// `archived`, which `commit` hands over in its output).
    pub(super) fn archive_resolved(&mut self, now: crate::types::TimestampMs) {
        self.expire_coupons(now);
        let window = self.config.resolved_in_memory_ms;
        while let Some((resolved_at, ..)) = self.state.resolved.front() {
            if resolved_at.saturating_add(window) > now {
                break;
            }
            let (_, kind, id) = self.state.resolved.pop_front().expect("looked at above");
            match kind {
                ArchivedKind::Settlement => self.evict_settlement(id, false),
                ArchivedKind::Authorization => self.evict_authorization(now, id),
                ArchivedKind::Hold => self.evict_hold(id),
                ArchivedKind::Bill => self.evict_bill(id),
                ArchivedKind::Split => self.evict_split(id),
                ArchivedKind::Coupon => self.evict_coupon(id),
                ArchivedKind::Redemption => self.evict_redemption(id),
                ArchivedKind::CouponCode => unreachable!("a coupon resolves by its id"),
            }
        }
    }

    /// Evicts settlement `id`; one that placed a hold only `with_its_hold` (its hold's eviction).
    fn evict_settlement(&mut self, id: Id, with_its_hold: bool) {
        let Some(record) = self.state.settlements.get(&id) else { return };
        if record.effect.as_ref().is_some_and(|effect| effect.held) && !with_its_hold {
            return; // It leaves with its hold.
        }
        if !matches!(self.pos_in_flight(&id), super::transit::InFlight::Nothing) {
            // A reversal or refund is in flight: it stays until that is final, a window more.
            self.resolved(ArchivedKind::Settlement, &id);
            return;
        }
        let record = self.state.settlements.remove(&id).expect("looked at above");
        let merchant = self.state.terminals.get(&record.terminal).map(|terminal| terminal.merchant.clone());
        let (lists, subject) = match &merchant {
            Some(merchant) => (&mut self.state.merchant_settlements, merchant),
            None => (&mut self.state.orphan_settlements, &record.terminal),
        };
        unlist(lists, subject, &id);
        self.archived.push(Archived::Settlement(ArchivedSettlement { id, record, merchant }));
    }

    fn evict_authorization(&mut self, now: crate::types::TimestampMs, id: Id) {
        let Some(authorization) = self.state.authorizations.remove(&id) else { return };
        let owner = self.disown(ObjectKind::Authorization, &id);
        self.retire_authorization(now, &id, &authorization);
        self.archived.push(Archived::Authorization(ArchivedAuthorization { id, authorization, owner }));
    }

    /// Evicts hold `id`, and the POS settlement that placed it, if one did.
    fn evict_hold(&mut self, id: Id) {
        let Some(hold) = self.state.holds.remove(&id) else { return };
        let owner = self.disown(ObjectKind::Hold, &id);
        self.archived.push(Archived::Hold(ArchivedHold { id: id.clone(), hold, owner }));
        self.evict_settlement(id, true);
    }

    fn evict_bill(&mut self, id: Id) {
        if self.bill_in_flight(&id) {
            // A refund is in flight: the bill stays until that is final, a window more.
            self.resolved(ArchivedKind::Bill, &id);
            return;
        }
        let Some(bill) = self.state.bills.remove(&id) else { return };
        let owner = self.disown(ObjectKind::Bill, &id);
        self.archived.push(Archived::Bill(ArchivedBill { id, bill, owner }));
    }

    fn evict_split(&mut self, id: Id) {
        if self.state.splits.get(&id).is_none_or(|split| split.escrow > 0) {
            return; // Money in escrow stays in memory (a resolved split holds none).
        }
        let split = self.state.splits.remove(&id).expect("looked at above");
        let owner = self.disown(ObjectKind::Split, &id);
        for member in &split.members {
            unlist(&mut self.state.member_splits, &member.user, &id);
        }
        self.archived.push(Archived::Split(ArchivedSplit { id, split, owner }));
    }

    /// Removes the owner record of object `id` of `kind` and its list entry; returns the owner.
    fn disown(&mut self, kind: ObjectKind, id: &Id) -> Option<Principal> {
        let owner = self.state.owners.remove(&(kind, id.clone()))?;
        let key = (owner.clone(), kind);
        if let Some(owned) = self.state.owned_objects.get_mut(&key) {
            owned.remove(id);
            if owned.is_empty() {
                self.state.owned_objects.remove(&key);
            }
        }
        Some(owner)
    }

    /// Records `owner` of object `id` of `kind` again, with its list entry.
    fn own(&mut self, kind: ObjectKind, id: &Id, owner: &Option<Principal>) {
        if let Some(owner) = owner {
            self.state.owners.insert((kind, id.clone()), owner.clone());
            self.list_owned(owner, kind, id);
        }
    }

    /// Takes back an object from storage (`TransitMessage::Restored`), unless it is in memory.
    pub(super) fn restore(&mut self, archived: &Archived) {
        match archived {
            // A settlement or authorization lives with its user: one of another partition's, named
            // here (a hold of its id captured here), stays where it lives.
            Archived::Settlement(settlement) => {
                if self.state.settlements.get(&settlement.id).is_some() || self.elsewhere(&settlement.record.user) {
                    return;
                }
                let id = settlement.id.clone();
                self.state.settlements.insert(id.clone(), settlement.record.clone());
                self.list_settlement(&settlement.record.terminal, &id);
                self.resolved(ArchivedKind::Settlement, &id);
            }
            Archived::Authorization(archived) => {
                if self.state.authorizations.contains_key(&archived.id) || self.elsewhere(&archived.authorization.user)
                {
                    return;
                }
                let id = archived.id.clone();
                self.state.authorizations.insert(id.clone(), archived.authorization.clone());
                self.unretire_authorization(&id);
                self.own(ObjectKind::Authorization, &id, &archived.owner);
                self.resolved(ArchivedKind::Authorization, &id);
            }
            Archived::Hold(archived) => {
                if self.state.holds.contains_key(&archived.id) {
                    return;
                }
                let id = archived.id.clone();
                self.state.holds.insert(id.clone(), archived.hold.clone());
                self.own(ObjectKind::Hold, &id, &archived.owner);
                self.resolved(ArchivedKind::Hold, &id);
            }
            Archived::Bill(archived) => {
                if self.state.bills.contains_key(&archived.id) {
                    return;
                }
                self.state.bills.insert(archived.id.clone(), archived.bill.clone());
                self.own(ObjectKind::Bill, &archived.id, &archived.owner);
                self.resolved(ArchivedKind::Bill, &archived.id);
            }
            Archived::Split(archived) => {
                if self.state.splits.contains_key(&archived.id) {
                    return;
                }
                self.state.splits.insert(archived.id.clone(), archived.split.clone());
                self.list_split_members(&archived.id);
                self.own(ObjectKind::Split, &archived.id, &archived.owner);
                self.resolved(ArchivedKind::Split, &archived.id);
            }
            Archived::Coupon(archived) => self.restore_coupon(archived),
            Archived::Redemption(archived) => self.restore_redemption(archived),
        }
    }

    /// Whether object `id` of `kind` is in memory.
    pub fn holds_object(&self, kind: ArchivedKind, id: &Id) -> bool {
        match kind {
            ArchivedKind::Settlement => self.state.settlements.get(id).is_some(),
            ArchivedKind::Authorization => self.state.authorizations.contains_key(id),
            ArchivedKind::Hold => self.state.holds.contains_key(id),
            ArchivedKind::Bill => self.state.bills.contains_key(id),
            ArchivedKind::Split => self.state.splits.contains_key(id),
            ArchivedKind::Coupon | ArchivedKind::CouponCode | ArchivedKind::Redemption => {
                self.holds_coupon_object(kind, id)
            }
        }
    }

    /// The objects that `batch` names (to create, retry, capture, void, reverse, refund, revoke,
    /// share, claim, redeem or pay with them) and memory does not hold, each once, in order: the
    /// executor looks for them in storage, and then for what each one found brings along
    /// ([`Archived::companion`]).
    pub fn objects_to_restore(&self, batch: &[Submission]) -> Vec<(ArchivedKind, Id)> {
        use ArchivedKind::{Authorization, Bill, Hold, Settlement, Split};
        let mut wanted = BTreeSet::new();
        for submission in batch {
            let coupons = self.coupon_objects_named(&submission.command);
            wanted.extend(coupons.into_iter().filter(|(kind, id)| !self.holds_object(*kind, id)));
            let (kinds, id): (&[ArchivedKind], &Id) = match &submission.command {
                Command::SettlePos(settle) => (&[Settlement, Hold], &settle.id),
                Command::ReversePos { settlement } => (&[Settlement], settlement),
                Command::RefundPos(refund) => (&[Settlement], &refund.of),
                Command::PlaceHold(place) => (&[Hold], &place.id),
                // A terminal may capture or void the hold its settlement placed: the rule asks
                // for the settlement of the hold's id, even when there is no such hold.
                Command::CaptureHold(capture) => (&[Hold, Settlement], &capture.hold),
                Command::VoidHold { hold } => (&[Hold, Settlement], hold),
                Command::Authorize(authorize) => (&[Authorization], &authorize.id),
                Command::RevokeAuthorization { authorization } => (&[Authorization], authorization),
                Command::OpenBill(open) => (&[Bill], &open.bill),
                Command::AddBillItem(add) => (&[Bill], &add.bill),
                Command::SubmitBill(submit) => (&[Bill], &submit.bill),
                Command::ConfirmBill(confirm) => (&[Bill], &confirm.bill),
                Command::CancelBill { bill } => (&[Bill], bill),
                Command::RefundBill(refund) => (&[Bill], &refund.of),
                Command::RequestSplit(request) => (&[Split], &request.split),
                Command::PaySplitShare(pay) => (&[Split], &pay.split),
                Command::CancelSplit { split } | Command::RefundSplit { split } => (&[Split], split),
                _ => continue,
            };
            let kinds = match &submission.command {
                // Only a settlement that places a hold can meet an archived hold of its id.
                Command::SettlePos(settle) if settle.hold_until_ms.is_none() => &kinds[..1],
                _ => kinds,
            };
            for kind in kinds {
                if !self.holds_object(*kind, id) {
                    wanted.insert((*kind, id.clone()));
                }
            }
        }
        wanted.into_iter().collect()
    }

    /// The objects the batch being started took out of memory so far (not yet in the output).
    pub fn archived_in_batch(&self) -> &[Archived] {
        &self.archived
    }

    /// Asserts the archive's bookkeeping (invariant checks): every id in a user's list is in
    /// memory or retired, and every retired one is in its user's list.
    pub(super) fn check_archive(&self) {
        let mut listed = 0;
        for ids in self.state.user_authorizations.values() {
            for ListedCode { id, .. } in ids {
                let retired = self.state.retired_authorizations.contains_key(id);
                assert!(
                    self.state.authorizations.contains_key(id) != retired,
                    "authorization {id} is in memory or retired, not both"
                );
                listed += usize::from(retired);
            }
        }
        assert_eq!(listed, self.state.retired_authorizations.len(), "every retired authorization is listed");
        let expiry = super::authorizations::retired_expiry(&self.state.retired_authorizations);
        assert!(expiry == self.state.retired_expiry, "every retired code is queued to be forgotten");
        self.check_coupon_expiry();
        for (id, record) in self.state.settlements.iter() {
            if record.effect.as_ref().is_some_and(|effect| effect.held) {
                assert!(self.state.holds.contains_key(id), "settlement {id} is in memory with its hold");
            }
        }
    }
}

/// The id a coupon is stored under by its redemption code's keyed hash (`ArchivedKind::CouponCode`).
pub(crate) fn code_key(code_index: &[u8; 32]) -> Id {
    Id::new(&hex::encode(code_index)).expect("64 hex digits are an id")
}

/// Removes `id` from `subject`'s list (and the list, once empty).
pub(super) fn unlist(lists: &mut super::Map<Id, BTreeSet<Id>>, subject: &Id, id: &Id) {
    if let Some(list) = lists.get_mut(subject) {
        list.remove(id);
        if list.is_empty() {
            lists.remove(subject);
        }
    }
}
