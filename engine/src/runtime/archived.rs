//! Reads that reach past memory: POS settlements, authorizations, holds, bills, splits and
//! coupons are
//! answered from the state while they are in it and from storage once they left it
//! (`state_machine/archive.rs`), under the same read rules (the object's own facts come from
//! what storage kept). Lookups by id, the lists they are in, and the event feed's scoping all
//! go through here.

use super::{Engine, QueryError};
use crate::authority::Read;
use crate::command::{ObjectKind, Principal, Rejection};
use crate::partition::{HOME_PARTITION, PartitionId};
use crate::state_machine::rules::Quote;
use crate::state_machine::{
    ArchiveList, Archived, ArchivedCoupon, ArchivedKind, Authorization, Bill, Coupon, Hold, KnownClaims,
    SettlementSummary, Split, StateMachine,
};
use crate::types::{Currency, Id};

/// One page of a list of objects, in id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPage<T> {
    /// The objects, with their ids.
    pub objects: Vec<(Id, T)>,
    /// Whether more follow the last one.
    pub has_more: bool,
}

/// A coupon with its current redemption code (derived from the server key, so the holder's app
/// can show it again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponWithCode {
    /// The coupon.
    pub coupon: Coupon,
    /// Its current redemption code, to whoever may read it (`read_coupon_code`: the holder's
    /// app and the admin; the issuing merchant reads the coupon without it).
    pub code: Option<String>,
}

/// The object a read is about, if it is of a kind that leaves memory, then the other object
/// storage must answer for the read's rules (a POS hold's settlement, which made it).
fn archivable(read: &Read) -> Option<(ArchivedKind, Id, Option<ArchivedKind>)> {
    match read {
        Read::Settlement(id) => Some((ArchivedKind::Settlement, id.clone(), None)),
        Read::Authorization(id) => Some((ArchivedKind::Authorization, id.clone(), None)),
        Read::Hold(id) => Some((ArchivedKind::Hold, id.clone(), Some(ArchivedKind::Settlement))),
        Read::Bill(id) => Some((ArchivedKind::Bill, id.clone(), None)),
        Read::Split(id) => Some((ArchivedKind::Split, id.clone(), None)),
        Read::Coupon(id) => Some((ArchivedKind::Coupon, id.clone(), None)),
        _ => None,
    }
}

/// The keys storage is asked for `read` (its object first).
fn stored_keys(read: &Read) -> Vec<(ArchivedKind, Id)> {
    let Some((kind, id, companion)) = archivable(read) else { return Vec::new() };
    let mut keys = vec![(kind, id.clone())];
    keys.extend(companion.map(|companion| (companion, id)));
    keys
}

impl Engine {
    /// POS settlement `id` as it was asked and answered, if `principal` may read it
    /// (`read_settlement`), from memory or storage. `Ok(None)`: there is none (the admin's
    /// answer; to a tenant that is [`QueryError::Forbidden`], as another's is). Includes every
    /// command acknowledged before the call. Blocking (RocksDB reads).
    pub fn settlement(&self, principal: &Principal, id: &Id) -> Result<Option<SettlementSummary>, QueryError> {
        self.object(principal, Read::Settlement(id.clone()), StateMachine::settlement_summary, settlement_of)
    }

    /// Authorization `id`, if `principal` may read it (`read_authorization`), from memory or
    /// storage; `Ok(None)` as for [`Engine::settlement`]. Blocking.
    pub fn authorization(&self, principal: &Principal, id: &Id) -> Result<Option<Authorization>, QueryError> {
        let in_memory = |machine: &StateMachine, id: &Id| machine.authorization(id).cloned();
        self.object(principal, Read::Authorization(id.clone()), in_memory, authorization_of)
    }

    /// Hold `id`, if `principal` may read it (`read_hold`), from memory or storage; `Ok(None)`
    /// as for [`Engine::settlement`]. Blocking.
    pub fn hold(&self, principal: &Principal, id: &Id) -> Result<Option<Hold>, QueryError> {
        let in_memory = |machine: &StateMachine, id: &Id| machine.hold(id).cloned();
        self.object(principal, Read::Hold(id.clone()), in_memory, hold_of)
    }

    /// Bill `id`, if `principal` may read it (`read_bill`), from memory or storage; `Ok(None)` as
    /// for [`Engine::settlement`]. Blocking.
    pub fn bill(&self, principal: &Principal, id: &Id) -> Result<Option<Bill>, QueryError> {
        let in_memory = |machine: &StateMachine, id: &Id| machine.bill(id).cloned();
        self.object(principal, Read::Bill(id.clone()), in_memory, bill_of)
    }

    /// Split `id`, if `principal` may read it (`read_split`), from memory or storage; `Ok(None)`
    /// as for [`Engine::settlement`]. Blocking.
    pub fn split(&self, principal: &Principal, id: &Id) -> Result<Option<Split>, QueryError> {
        let in_memory = |machine: &StateMachine, id: &Id| machine.split(id).cloned();
        self.object(principal, Read::Split(id.clone()), in_memory, split_of)
    }

    /// Coupon `id` with its current redemption code, if `principal` may read it
    /// (`read_coupon`), from memory or storage; `Ok(None)` as for [`Engine::settlement`].
    /// Blocking.
    pub fn coupon(&self, principal: &Principal, id: &Id) -> Result<Option<CouponWithCode>, QueryError> {
        let in_memory = |machine: &StateMachine, id: &Id| machine.coupon(id).cloned();
        let Some(coupon) = self.object(principal, Read::Coupon(id.clone()), in_memory, coupon_of)? else {
            return Ok(None);
        };
        Ok(self.with_codes(principal, vec![(id.clone(), coupon)])?.pop().map(|(_, coupon)| coupon))
    }

    /// Prices coupon `id` on a purchase of `amount` (made at `location` when known) without
    /// redeeming it, if `principal` may read it (`read_coupon`), from memory or storage: its
    /// discount and currency, or `coupon_not_valid` once it is shared, redeemed or outside its
    /// validity ([`StateMachine::price_coupon`]), `coupon_not_found` when there is none.
    /// Blocking.
    pub fn quote_coupon(
        &self,
        principal: &Principal,
        id: &Id,
        (amount, location): (u64, Option<crate::types::GeoPoint>),
    ) -> Result<Result<(Quote, Currency), Rejection>, QueryError> {
        let in_memory = |machine: &StateMachine, id: &Id| machine.coupon(id).cloned();
        let Some(coupon) = self.object(principal, Read::Coupon(id.clone()), in_memory, coupon_of)? else {
            return Ok(Err(Rejection::CouponNotFound));
        };
        let now = self.read_partition_blocking(HOME_PARTITION, StateMachine::state_now_ms)?;
        Ok(StateMachine::price_coupon(now, &coupon, amount, location).map(|quote| (quote, coupon.currency)))
    }

    /// Up to `limit` of the coupons `user` holds (any state, the rewards its contacts'
    /// redemptions earned it included; in memory or storage), with their codes, in id order
    /// after `starting_after`, and whether more remain; if `principal` may read them
    /// (`read_user_coupons`). Blocking.
    pub fn coupons_held(
        &self,
        principal: &Principal,
        user: &Id,
        limit: usize,
        starting_after: Option<&Id>,
    ) -> Result<ObjectPage<CouponWithCode>, QueryError> {
        let read = Read::UserCoupons(user.clone());
        let (holder, cursor) = (user.clone(), starting_after.cloned());
        let in_memory = move |machine: &StateMachine| {
            let (ids, more) = machine.coupons_held(&holder, limit, cursor.as_ref());
            let page = ids.into_iter().filter_map(|id| Some((id.clone(), machine.coupon(&id)?.clone()))).collect();
            (page, more)
        };
        let list = (ArchiveList::HeldCoupons(user.clone()), ArchivedKind::Coupon);
        let page = self.page(
            principal,
            (vec![HOME_PARTITION], Some(read)),
            in_memory,
            list,
            (limit, starting_after),
            coupon_of,
        )?;
        Ok(ObjectPage { objects: self.with_codes(principal, page.objects)?, has_more: page.has_more })
    }

    /// Prices the coupon of redemption code `code` on a purchase of `amount` for `operator`,
    /// without redeeming it, if `principal` may (`verify_coupon`): as
    /// [`StateMachine::verify_coupon`], and a code whose coupon left memory answers from storage
    /// (`coupon_redeemed`, `coupon_not_valid`, `wrong_merchant`) as it would have in memory.
    /// Blocking.
    pub fn verify_coupon(
        &self,
        principal: &Principal,
        operator: &Id,
        code: &str,
        (amount, location): (u64, Option<crate::types::GeoPoint>),
    ) -> Result<Result<(Id, Quote), Rejection>, QueryError> {
        let (who, asked, key) = (principal.clone(), operator.clone(), code.to_string());
        let first = self.read_partition_blocking(HOME_PARTITION, move |machine| {
            machine.check_read(&who, &Read::VerifyCoupon(asked.clone()))?;
            let verdict = machine.verify_coupon(machine.state_now_ms(), &asked, &key, amount, location);
            let stored = match verdict {
                Err(Rejection::CouponNotFound) => machine.coupon_code_key(&key),
                _ => None,
            };
            Ok((verdict, stored))
        })?;
        let (verdict, stored) = first.map_err(|_: Rejection| QueryError::Forbidden)?;
        let Some(stored) = stored else { return Ok(verdict) };
        let Some(Archived::Coupon(coupon)) = self.wal.archived(&[(ArchivedKind::CouponCode, stored)])?.pop().flatten()
        else {
            return Ok(verdict);
        };
        let operator = operator.clone();
        Ok(self.read_partition_blocking(HOME_PARTITION, move |machine| {
            machine.verify_archived_coupon(machine.state_now_ms(), &operator, &coupon, amount, location)
        })?)
    }

    /// The coupons, each with its current code where `principal` may read it (derived from the
    /// server key).
    fn with_codes(
        &self,
        principal: &Principal,
        coupons: Vec<(Id, Coupon)>,
    ) -> Result<Vec<(Id, CouponWithCode)>, QueryError> {
        let who = principal.clone();
        let with_codes = self.read_with_claims(HOME_PARTITION, move |machine, claims| {
            let mut unknown = Vec::new();
            let mut with_code = |(id, coupon): &(Id, Coupon)| {
                // The coupon at hand answers for itself, in memory or out of it.
                let facts = [Archived::Coupon(ArchivedCoupon::of(id, coupon))];
                let read = Read::CouponCode(id.clone());
                let may = match machine.read_verdict(&who, &read, &facts, claims).decided() {
                    Ok(answer) => answer.is_ok(),
                    Err(users) => {
                        unknown.extend(users);
                        false
                    }
                };
                let code = may.then(|| machine.code_of(id, coupon));
                (id.clone(), CouponWithCode { coupon: coupon.clone(), code })
            };
            let answered: Vec<_> = coupons.iter().map(&mut with_code).collect();
            if unknown.is_empty() { Ok(answered) } else { Err(unknown) }
        })?;
        Ok(with_codes)
    }

    /// Up to `limit` of the POS settlements made at `merchant`'s terminals (approved or
    /// declined; in memory or storage), in id order after `starting_after`, and whether more
    /// remain; if `principal` may read them (`read_merchant_settlements`). Blocking.
    pub fn merchant_settlements(
        &self,
        principal: &Principal,
        merchant: &Id,
        limit: usize,
        starting_after: Option<&Id>,
    ) -> Result<ObjectPage<SettlementSummary>, QueryError> {
        let read = Read::MerchantSettlements(merchant.clone());
        let (merchant_id, cursor) = (merchant.clone(), starting_after.cloned());
        let in_memory = move |machine: &StateMachine| {
            let (ids, more) = machine.settlements_at(&merchant_id, limit, cursor.as_ref());
            let page = ids.into_iter().filter_map(|id| Some((id.clone(), machine.settlement_summary(&id)?))).collect();
            (page, more)
        };
        let list = (ArchiveList::MerchantSettlements(merchant.clone()), ArchivedKind::Settlement);
        // Settlements live with their users, on every partition.
        let partitions = (0..self.placement.count()).collect();
        self.page(principal, (partitions, Some(read)), in_memory, list, (limit, starting_after), settlement_of)
    }

    /// Up to `limit` of the authorizations `principal`'s tenant created (in memory or storage),
    /// in id order after `starting_after`, and whether more remain. Blocking.
    pub fn authorizations_owned(
        &self,
        principal: &Principal,
        limit: usize,
        starting_after: Option<&Id>,
    ) -> Result<ObjectPage<Authorization>, QueryError> {
        let in_memory = |machine: &StateMachine, id: &Id| machine.authorization(id).cloned();
        self.owned_page(principal, (ArchivedKind::Authorization, authorization_of), in_memory, (limit, starting_after))
    }

    /// Up to `limit` of the holds `principal`'s tenant placed (in memory or storage), in id
    /// order after `starting_after`, and whether more remain. Blocking.
    pub fn holds_owned(
        &self,
        principal: &Principal,
        limit: usize,
        starting_after: Option<&Id>,
    ) -> Result<ObjectPage<Hold>, QueryError> {
        let in_memory = |machine: &StateMachine, id: &Id| machine.hold(id).cloned();
        self.owned_page(principal, (ArchivedKind::Hold, hold_of), in_memory, (limit, starting_after))
    }

    /// Up to `limit` of the bills `principal`'s tenant opened (in memory or storage), in id
    /// order after `starting_after`, and whether more remain. Blocking.
    pub fn bills_owned(
        &self,
        principal: &Principal,
        limit: usize,
        starting_after: Option<&Id>,
    ) -> Result<ObjectPage<Bill>, QueryError> {
        let in_memory = |machine: &StateMachine, id: &Id| machine.bill(id).cloned();
        self.owned_page(principal, (ArchivedKind::Bill, bill_of), in_memory, (limit, starting_after))
    }

    /// Up to `limit` of the splits `principal`'s tenant requested (in memory or storage), in id
    /// order after `starting_after`, and whether more remain. Blocking.
    pub fn splits_owned(
        &self,
        principal: &Principal,
        limit: usize,
        starting_after: Option<&Id>,
    ) -> Result<ObjectPage<Split>, QueryError> {
        let in_memory = |machine: &StateMachine, id: &Id| machine.split(id).cloned();
        self.owned_page(principal, (ArchivedKind::Split, split_of), in_memory, (limit, starting_after))
    }

    /// Up to `limit` of the splits `user` is a member of (any state; in memory or storage), in
    /// id order after `starting_after`, and whether more remain; if `principal` may read them
    /// (`read_user_splits`). Blocking.
    pub fn member_splits(
        &self,
        principal: &Principal,
        user: &Id,
        limit: usize,
        starting_after: Option<&Id>,
    ) -> Result<ObjectPage<Split>, QueryError> {
        let read = Read::UserSplits(user.clone());
        let (member, cursor) = (user.clone(), starting_after.cloned());
        let in_memory = move |machine: &StateMachine| {
            let (ids, more) = machine.splits_of_member(&member, limit, cursor.as_ref());
            let page = ids.into_iter().filter_map(|id| Some((id.clone(), machine.split(&id)?.clone()))).collect();
            (page, more)
        };
        let list = (ArchiveList::MemberSplits(user.clone()), ArchivedKind::Split);
        // Splits live with their requesters, on every partition.
        let partitions = (0..self.placement.count()).collect();
        self.page(principal, (partitions, Some(read)), in_memory, list, (limit, starting_after), split_of)
    }

    /// A page of the objects of `kind` the caller's tenant created (scoped by construction);
    /// `stored` takes one out of what storage holds.
    fn owned_page<T: Send + 'static>(
        &self,
        principal: &Principal,
        (kind, stored): (ArchivedKind, fn(Archived) -> Option<T>),
        view: fn(&StateMachine, &Id) -> Option<T>,
        (limit, starting_after): (usize, Option<&Id>),
    ) -> Result<ObjectPage<T>, QueryError> {
        let (owner, cursor) = (principal.clone(), starting_after.cloned());
        let object_kind = match kind {
            ArchivedKind::Authorization => ObjectKind::Authorization,
            ArchivedKind::Hold => ObjectKind::Hold,
            ArchivedKind::Bill => ObjectKind::Bill,
            ArchivedKind::Split => ObjectKind::Split,
            kind => unreachable!("{kind:?} is not listed by its creator"),
        };
        let in_memory = move |machine: &StateMachine| {
            let (ids, more) = machine.objects_owned(&owner, object_kind, limit, cursor.as_ref());
            let page = ids.into_iter().filter_map(|id| Some((id.clone(), view(machine, &id)?))).collect();
            (page, more)
        };
        let list = (ArchiveList::Owned(kind, principal.clone()), kind);
        // Holds live with their payers, splits with their requesters, authorizations and bills
        // with their users, on every partition; the rest on the home one.
        let partitions = match kind {
            ArchivedKind::Hold | ArchivedKind::Split | ArchivedKind::Authorization | ArchivedKind::Bill => {
                (0..self.placement.count()).collect()
            }
            _ => vec![HOME_PARTITION],
        };
        self.page(principal, (partitions, None), in_memory, list, (limit, starting_after), stored)
    }

    /// What storage keeps of object `id` of `kind`, if it left memory at some point (the copy of
    /// when it last left). No read rule is checked: the embedder's own view, for tools and tests.
    pub fn archived_object(&self, kind: ArchivedKind, id: &Id) -> Result<Option<Archived>, QueryError> {
        Ok(self.wal.archived(&[(kind, id.clone())])?.pop().flatten())
    }

    /// The partition that answers `read`: an account's, a hold's, a split's, an authorization's
    /// or a settlement's (`directory.rs`), else the home partition. Blocking when such an
    /// object left memory (a storage read).
    pub fn partition_of_read(&self, read: &Read) -> Result<PartitionId, QueryError> {
        Ok(match read {
            Read::Account(account) => self.placement.of_account(account),
            Read::Hold(id) => self.hold_partition(id)?,
            Read::Split(id) => self.split_partition(id)?,
            Read::Authorization(id) => self.authorization_partition(id)?,
            Read::Settlement(id) => self.settlement_partition(id)?,
            Read::Bill(id) => self.bill_partition(id)?,
            _ => HOME_PARTITION,
        })
    }

    /// Which of `reads` (of objects on `partition`) `principal` may make, objects out of
    /// memory included.
    pub(super) fn may_read_on(
        &self,
        partition: PartitionId,
        principal: &Principal,
        reads: Vec<(usize, Read)>,
    ) -> Result<Vec<(usize, bool)>, QueryError> {
        let who = principal.clone();
        // `None`: the object is not in memory (and may be in storage).
        let first = self.read_with_claims(partition, move |machine, claims| {
            let mut unknown = Vec::new();
            let mut answer = |read: &Read| match archivable(read) {
                Some((kind, id, _)) if !machine.holds_object(kind, &id) => None,
                _ => Some(machine.read_verdict(&who, read, &[], claims).decided().unwrap_or_else(|users| {
                    unknown.extend(users);
                    Err(Rejection::Forbidden)
                })),
            };
            let answers: Vec<_> = reads.iter().map(|(index, read)| (*index, answer(read), read.clone())).collect();
            if unknown.is_empty() { Ok(answers) } else { Err(unknown) }
        })?;
        let mut answers = Vec::with_capacity(first.len());
        let mut stored_reads = Vec::new();
        for (index, answer, read) in first {
            match answer {
                Some(may) => answers.push((index, may.is_ok())),
                None => stored_reads.push((index, read)),
            }
        }
        if stored_reads.is_empty() {
            return Ok(answers);
        }
        let keys: Vec<Vec<(ArchivedKind, Id)>> = stored_reads.iter().map(|(_, read)| stored_keys(read)).collect();
        let mut found = self.wal.archived(&keys.concat())?.into_iter();
        let objects: Vec<Vec<Option<Archived>>> =
            keys.iter().map(|keys| found.by_ref().take(keys.len()).collect()).collect();
        let who = principal.clone();
        let checked = self.read_with_claims(partition, move |machine, claims| {
            let mut checked = Vec::with_capacity(stored_reads.len());
            for ((index, read), objects) in stored_reads.iter().zip(&objects) {
                checked.push((*index, may_read_stored(machine, (&who, read), objects.clone(), claims)?.is_ok()));
            }
            Ok(checked)
        })?;
        answers.extend(checked);
        Ok(answers)
    }

    /// Object `read` names, from memory (`in_memory`) or storage (taken out of what it holds
    /// by `stored`), if `principal` may read it.
    fn object<T: Send + 'static>(
        &self,
        principal: &Principal,
        read: Read,
        in_memory: fn(&StateMachine, &Id) -> Option<T>,
        stored: fn(Archived) -> Option<T>,
    ) -> Result<Option<T>, QueryError> {
        let (kind, id, _) = archivable(&read).expect("an object that leaves memory");
        let partition = self.partition_of_read(&read)?;
        let (who, asked) = (principal.clone(), read.clone());
        let first = self.read_with_claims(partition, move |machine, claims| {
            if !machine.holds_object(kind, &id) {
                return Ok(None);
            }
            let verdict = machine.read_verdict(&who, &asked, &[], claims).decided()?;
            Ok(Some(verdict.map(|()| in_memory(machine, &id))))
        })?;
        if let Some(found) = first {
            return found.map_err(|_| QueryError::Forbidden);
        }
        let objects = self.wal.archived(&stored_keys(&read))?;
        if objects[0].is_none() {
            return if matches!(principal, Principal::Admin) { Ok(None) } else { Err(QueryError::Forbidden) };
        }
        let who = principal.clone();
        let allowed = self.read_with_claims(partition, move |machine, claims| {
            may_read_stored(machine, (&who, &read), objects.clone(), claims)
        })?;
        Ok(allowed.map_err(|_| QueryError::Forbidden)?.and_then(stored))
    }

    /// A page of a list, merged from memory (`in_memory`: each of `partitions`' page with the
    /// objects) and storage (`list`, its objects rendered by `stored`), in id order; an object in
    /// both (taken back into memory) is shown as memory holds it. `read`, if any, is checked
    /// first, on the first of `partitions`.
    fn page<T: Send + 'static>(
        &self,
        principal: &Principal,
        (partitions, read): (Vec<PartitionId>, Option<Read>),
        in_memory: impl Fn(&StateMachine) -> (Vec<(Id, T)>, bool) + Clone + Send + 'static,
        (list, kind): (ArchiveList, ArchivedKind),
        (limit, starting_after): (usize, Option<&Id>),
        stored: fn(Archived) -> Option<T>,
    ) -> Result<ObjectPage<T>, QueryError> {
        if let (Some(read), Some(first)) = (read, partitions.first()) {
            // Its rule reads no object of the list, at most a user's claim, which never changes
            // once decided: checked once, before the list is read.
            let who = principal.clone();
            let verdict = self.read_with_claims(*first, move |machine, claims| {
                machine.read_verdict(&who, &read, &[], claims).decided()
            })?;
            verdict.map_err(|_| QueryError::Forbidden)?;
        }
        let (mut memory, mut memory_more) = (Vec::new(), false);
        for partition in partitions {
            let (page, more) = self.read_partition_blocking(partition, in_memory.clone())?;
            memory.extend(page);
            memory_more |= more;
        }
        // Each partition's page is in id order; ids are unique across partitions.
        memory.sort_by(|(left, _), (right, _)| left.cmp(right));
        let (stored_ids, stored_more) = self.wal.archived_page(&list, limit, starting_after)?;
        let mut merged: Vec<(Id, Option<T>)> = memory.into_iter().map(|(id, object)| (id, Some(object))).collect();
        for id in stored_ids {
            if let Err(position) = merged.binary_search_by(|(listed, _)| listed.cmp(&id)) {
                merged.insert(position, (id, None));
            }
        }
        let has_more = memory_more || stored_more || merged.len() > limit;
        merged.truncate(limit);
        let wanted: Vec<(ArchivedKind, Id)> =
            merged.iter().filter(|(_, object)| object.is_none()).map(|(id, _)| (kind, id.clone())).collect();
        let mut objects = self.wal.archived(&wanted)?.into_iter();
        let mut page = Vec::with_capacity(merged.len());
        for (id, object) in merged {
            let object = match object {
                Some(object) => Some(object),
                None => objects.next().flatten().and_then(stored),
            };
            page.extend(object.map(|object| (id, object)));
        }
        Ok(ObjectPage { objects: page, has_more })
    }
}

/// Whether `principal` may make `read` of the object storage answered (first of `objects`, then
/// what its rules need); the object, if it may. Storage holding nothing: what the rules say of an
/// object that does not exist.
/// `Err(users)`: the users' claims to take from their partitions first.
fn may_read_stored(
    machine: &StateMachine,
    (principal, read): (&Principal, &Read),
    objects: Vec<Option<Archived>>,
    claims: &KnownClaims,
) -> Result<Result<Option<Archived>, Rejection>, Vec<Id>> {
    if objects.first().is_none_or(Option::is_none) {
        return Ok(machine.read_verdict(principal, read, &[], claims).decided()?.map(|()| None));
    }
    let objects: Vec<Archived> = objects.into_iter().flatten().collect();
    let verdict = machine.read_verdict(principal, read, &objects, claims).decided()?;
    Ok(verdict.map(|()| objects.into_iter().next()))
}

fn split_of(object: Archived) -> Option<Split> {
    match object {
        Archived::Split(archived) => Some(archived.split),
        _ => None,
    }
}

/// The settlement an archived object is, if it is one (and the same for each kind below).
fn settlement_of(object: Archived) -> Option<SettlementSummary> {
    match object {
        Archived::Settlement(archived) => Some(archived.summary()),
        _ => None,
    }
}

fn authorization_of(object: Archived) -> Option<Authorization> {
    match object {
        Archived::Authorization(archived) => Some(*archived.authorization),
        _ => None,
    }
}

fn hold_of(object: Archived) -> Option<Hold> {
    match object {
        Archived::Hold(archived) => Some(archived.hold),
        _ => None,
    }
}

fn coupon_of(object: Archived) -> Option<Coupon> {
    match object {
        Archived::Coupon(archived) => Some(*archived.coupon),
        _ => None,
    }
}

fn bill_of(object: Archived) -> Option<Bill> {
    match object {
        Archived::Bill(archived) => Some(archived.bill),
        _ => None,
    }
}
