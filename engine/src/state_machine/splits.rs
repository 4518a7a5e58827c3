//! Group-payment splits (US10970692B2).
//!
//! A requester posts a payment request to a group for a total, split equally (the remainder minor
//! units go one each to the first members, in member order) or by explicit shares summing to the
//! total. Each member pays their share once, into the split's escrow; the payment that completes
//! the split pays the whole escrow to the requester's account in the same step.
//!
//! Policy for paid shares: when a split is cancelled or expires before completing, every paid
//! share is refunded from escrow to the account it came from, in the same step. Refunds are
//! credited even to an account closed in the meantime (the money is the member's).

use serde::{Deserialize, Serialize};

use super::StateMachine;
use crate::command::{
    Change, Event, ObjectKind, Outcome, PaySplitShare, PostingCause, Principal, Rejection, Reply, RequestSplit,
    SplitMember, SplitShares,
};
use crate::constants::{SPLIT_MEMBERS_MAX, SPLIT_TTL_MS_MAX};
use crate::types::{Currency, Id, TimestampMs};

/// Where a split is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitState {
    /// Collecting shares.
    Open,
    /// Every share paid; the requester was paid.
    Completed,
    /// Cancelled by the requester; paid shares refunded.
    Cancelled,
    /// Expired; paid shares refunded.
    Expired,
    /// Completed, then refunded (`RefundSplit`): the requester paid every member back.
    Refunded,
}

/// A group-payment request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// The requesting user.
    pub requester: Id,
    /// Where the total goes.
    pub requester_account: Id,
    /// Currency of every account involved.
    pub currency: Currency,
    /// Total requested.
    pub total: u64,
    /// Members, in order.
    pub members: Vec<SplitMember>,
    /// Share of each member, in member order.
    pub shares: Vec<u64>,
    /// Whether each member has paid.
    pub paid: Vec<bool>,
    /// Money paid in and not yet paid out or refunded.
    pub escrow: u64,
    /// When an open split expires.
    pub expires_at_ms: TimestampMs,
    /// Where it is in its life.
    pub state: SplitState,
    pub(crate) request_shares: SplitShares,
    /// The owner of each member's account when the split was requested, in member order (none:
    /// the admin's), as its partition answered for one that lives elsewhere: an account's owner
    /// never changes, so the rules read it here wherever the account lives.
    pub member_owners: Vec<Option<Principal>>,
}

/// Divides `total` equally among `members`; the first `total % members` get one more unit.
pub fn equal_shares(total: u64, members: usize) -> Vec<u64> {
    let count = u64::try_from(members).expect("members bounded");
    let (base, remainder) = (total / count, total % count);
    (0..count).map(|index| base + u64::from(index < remainder)).collect()
}

impl StateMachine {
    pub(super) fn request_split(
        &mut self,
        now: TimestampMs,
        request: &RequestSplit,
        events: &mut Vec<Event>,
    ) -> Outcome {
        if let Some(existing) = self.state.splits.get(&request.split) {
            let same = existing.requester == request.requester
                && existing.requester_account == request.requester_account
                && existing.total == request.total
                && existing.currency == request.currency
                && existing.members == request.members
                && existing.request_shares == request.shares
                && existing.expires_at_ms == request.expires_at_ms;
            return if same {
                Outcome::Applied(Reply::SplitRequested { shares: existing.shares.clone() })
            } else {
                Outcome::Rejected(Rejection::AlreadyExists)
            };
        }
        let shares = match self.check_split(now, request) {
            Ok(shares) => shares,
            Err(rejection) => return Outcome::Rejected(rejection),
        };
        let split = Split {
            requester: request.requester.clone(),
            requester_account: request.requester_account.clone(),
            currency: request.currency,
            total: request.total,
            members: request.members.clone(),
            shares: shares.clone(),
            paid: vec![false; shares.len()],
            escrow: 0,
            expires_at_ms: request.expires_at_ms,
            state: SplitState::Open,
            request_shares: request.shares.clone(),
            member_owners: request
                .members
                .iter()
                .map(|member| crate::authority::Facts::owner(self, ObjectKind::Account, &member.account).cloned())
                .collect(),
        };
        self.state.splits.insert(request.split.clone(), split);
        self.list_split_members(&request.split);
        self.state.split_expiry.insert((request.expires_at_ms, request.split.clone()));
        Self::changed(events, ObjectKind::Split, &request.split, Change::Opened);
        Outcome::Applied(Reply::SplitRequested { shares })
    }

    fn check_split(&self, now: TimestampMs, request: &RequestSplit) -> Result<Vec<u64>, Rejection> {
        Self::check_amount(request.total)?;
        if request.expires_at_ms <= now || request.expires_at_ms - now > SPLIT_TTL_MS_MAX {
            return Err(Rejection::InvalidExpiry);
        }
        let count = request.members.len();
        if count == 0 || count > SPLIT_MEMBERS_MAX {
            return Err(Rejection::InvalidShares);
        }
        for (index, member) in request.members.iter().enumerate() {
            if request.members[..index].iter().any(|earlier| earlier.user == member.user) {
                return Err(Rejection::InvalidShares);
            }
        }
        // Accounts elsewhere as their partitions answered (`check_account_first`).
        self.usable_anywhere(&request.requester_account, request.currency)?;
        for member in &request.members {
            self.usable_anywhere(&member.account, request.currency)?;
        }
        let shares = match &request.shares {
            SplitShares::Equal => {
                if request.total < count as u64 {
                    return Err(Rejection::InvalidShares);
                }
                equal_shares(request.total, count)
            }
            SplitShares::Explicit(shares) => {
                let sum = shares.iter().try_fold(0u64, |sum, share| sum.checked_add(*share));
                if shares.len() != count || shares.contains(&0) || sum != Some(request.total) {
                    return Err(Rejection::InvalidShares);
                }
                shares.clone()
            }
        };
        Ok(shares)
    }

    pub(super) fn pay_split_share(
        &mut self,
        now: TimestampMs,
        principal: &Principal,
        pay: &PaySplitShare,
        events: &mut Vec<Event>,
    ) -> Outcome {
        match self.check_split_share(now, pay) {
            Err(rejection) => Outcome::Rejected(rejection),
            Ok((index, completes)) => {
                let split = &self.state.splits[&pay.split];
                let (account, requester) = (&split.members[index].account, &split.requester_account);
                if !self.lives_here(account) || (completes && !self.lives_here(requester)) {
                    // An app paying for an unclaimed member claims it if the share is paid.
                    let claims = matches!(principal, Principal::App(_)).then(|| principal.clone());
                    return self.pay_share_across(&pay.split, (index, claims), completes, events);
                }
                let share = self.take_share(&pay.split, index, events);
                if completes {
                    self.complete_split(&pay.split, events);
                    // Member accounts elsewhere are released; the answer waits for that.
                    let releases = self.release_credits(&pay.split);
                    self.joining.extend(releases);
                }
                Outcome::Applied(Reply::SharePaid { amount: share, completed: completes })
            }
        }
    }

    /// Checks a share payment; returns the member's index and whether it completes the split.
    fn check_split_share(&self, now: TimestampMs, pay: &PaySplitShare) -> Result<(usize, bool), Rejection> {
        let split = self.state.splits.get(&pay.split).ok_or(Rejection::SplitNotFound)?;
        if split.state != SplitState::Open {
            return Err(Rejection::SplitClosed);
        }
        if now >= split.expires_at_ms {
            return Err(Rejection::Expired);
        }
        let index = split.members.iter().position(|member| member.user == pay.member).ok_or(Rejection::NotAMember)?;
        if split.paid[index] {
            return Err(Rejection::AlreadyPaid);
        }
        // An account elsewhere is checked there, the member's before the requester's.
        let account = &split.members[index].account;
        let completes = split.paid.iter().filter(|paid| !**paid).count() == 1;
        if !self.lives_here(account) {
            return Ok((index, completes));
        }
        self.usable_account(account, split.currency, Rejection::AccountNotFound)?;
        self.check_debit(account, split.shares[index])?;
        if completes && self.lives_here(&split.requester_account) {
            self.usable_account(&split.requester_account, split.currency, Rejection::CounterpartyNotFound)?;
            self.check_credit(&split.requester_account, split.total)?;
        }
        Ok((index, completes))
    }

    /// Takes member `index`'s share from its account here into the escrow; returns it.
    pub(super) fn take_share(&mut self, id: &Id, index: usize, events: &mut Vec<Event>) -> u64 {
        let split = self.state.splits.get_mut(id).expect("checked");
        let (account, share) = (split.members[index].account.clone(), split.shares[index]);
        split.paid[index] = true;
        split.escrow += share;
        *self.state.escrowed_shares.entry(account.clone()).or_default() += 1;
        let delta = i64::try_from(share).expect("share within AMOUNT_MINOR_MAX");
        self.post(&account, -delta, 0, PostingCause::SplitShare(id.clone()), events);
        share
    }

    /// Pays the whole escrow to the requester's account here and completes the split.
    pub(super) fn complete_split(&mut self, id: &Id, events: &mut Vec<Event>) {
        let split = self.state.splits.get_mut(id).expect("exists");
        assert_eq!(split.escrow, split.total, "a complete split holds its total in escrow");
        let (account, total, expires_at_ms) = (split.requester_account.clone(), split.total, split.expires_at_ms);
        split.escrow = 0;
        let removed = self.state.split_expiry.remove(&(expires_at_ms, id.clone()));
        assert!(removed, "an open split is in the expiry index");
        let delta = i64::try_from(total).expect("total within AMOUNT_MINOR_MAX");
        self.post(&account, delta, 0, PostingCause::SplitPayout(id.clone()), events);
        self.split_completed(id, events);
    }

    /// Split `id`'s total left its escrow for the requester: it is complete.
    pub(super) fn split_completed(&mut self, id: &Id, events: &mut Vec<Event>) {
        let split = self.state.splits.get_mut(id).expect("exists");
        split.state = SplitState::Completed;
        let members: Vec<Id> = split.members.iter().map(|member| member.account.clone()).collect();
        members.iter().for_each(|member| self.state.release_share(member));
        Self::changed(events, ObjectKind::Split, id, Change::Completed);
        self.resolved(super::ArchivedKind::Split, id);
    }

    pub(super) fn cancel_split(&mut self, id: &Id, events: &mut Vec<Event>) -> Outcome {
        let Some(split) = self.state.splits.get(id) else {
            return Outcome::Rejected(Rejection::SplitNotFound);
        };
        match split.state {
            SplitState::Open => {
                let expires_at_ms = split.expires_at_ms;
                let refunded = self.refund_split(id, SplitState::Cancelled, events);
                let removed = self.state.split_expiry.remove(&(expires_at_ms, id.clone()));
                assert!(removed, "an open split is in the expiry index");
                Outcome::Applied(Reply::SplitCancelled { refunded })
            }
            SplitState::Cancelled => Outcome::Rejected(Rejection::SplitClosed),
            SplitState::Completed => Outcome::Rejected(Rejection::SplitClosed),
            SplitState::Expired => Outcome::Rejected(Rejection::Expired),
            SplitState::Refunded => Outcome::Rejected(Rejection::SplitClosed),
        }
    }

    /// Refunds every paid share from escrow and closes the split as `state`. Returns the total.
    fn refund_split(&mut self, id: &Id, state: SplitState, events: &mut Vec<Event>) -> u64 {
        let split = self.state.splits.get_mut(id).expect("exists");
        assert_eq!(split.state, SplitState::Open);
        let refunds: Vec<(Id, u64)> = split
            .members
            .iter()
            .zip(&split.shares)
            .zip(&split.paid)
            .filter(|(_, paid)| **paid)
            .map(|((member, share), _)| (member.account.clone(), *share))
            .collect();
        let refunded: u64 = refunds.iter().map(|(_, share)| share).sum();
        assert_eq!(refunded, split.escrow, "escrow holds exactly the paid shares");
        split.escrow = 0;
        split.state = state;
        for (account, share) in refunds {
            self.state.release_share(&account);
            if !self.lives_here(&account) {
                // Back by a credit; the cancellation or tick answers when all arrived.
                let credit = self.give_share_back(id, &account, share);
                self.joining.push(credit);
                continue;
            }
            let delta = i64::try_from(share).expect("share within AMOUNT_MINOR_MAX");
            self.post(&account, delta, 0, PostingCause::SplitRefund(id.clone()), events);
        }
        let change = if state == SplitState::Expired { Change::Expired } else { Change::Cancelled };
        Self::changed(events, ObjectKind::Split, id, change);
        self.resolved(super::ArchivedKind::Split, id);
        refunded
    }

    /// Expires every open split due at `now`, refunding paid shares.
    pub(super) fn expire_splits(&mut self, now: TimestampMs, events: &mut Vec<Event>) -> u32 {
        let mut expired = 0;
        while let Some((expires_at_ms, id)) = self.state.split_expiry.first().cloned() {
            if expires_at_ms > now {
                break;
            }
            self.state.split_expiry.pop_first();
            self.refund_split(&id, SplitState::Expired, events);
            expired += 1;
        }
        expired
    }
}

impl StateMachine {
    /// A split's request routed here while its requester lives on another partition and no
    /// split of its id is here (another request of its id, refused meanwhile, had entered it
    /// here: `runtime/directory.rs`): refused `cross_partition` before anything is asked.
    /// So is an authorization, a sale or a bill for a user of another partition
    /// (`keeps_pos_object`, `keeps_bill`).
    pub(super) fn misrouted_request(&self, submission: &crate::command::Submission) -> Option<Outcome> {
        use crate::command::Command;
        use crate::partition::DirectoryKind;
        let misrouted = match &submission.command {
            Command::RequestSplit(request) => {
                self.elsewhere(&request.requester) && !self.state.splits.contains_key(&request.split)
            }
            Command::Authorize(authorize) => {
                self.elsewhere(&authorize.user) && !self.keeps_pos_object(DirectoryKind::Authorization, &authorize.id)
            }
            Command::SettlePos(settle) => {
                self.elsewhere(&settle.user) && !self.keeps_pos_object(DirectoryKind::Settlement, &settle.id)
            }
            Command::OpenBill(open) => self.elsewhere(&open.user) && !self.keeps_bill(&open.bill),
            _ => false,
        };
        misrouted.then_some(Outcome::Rejected(Rejection::CrossPartition))
    }

    /// Whether user `id` lives on another partition.
    pub(super) fn elsewhere(&self, user: &Id) -> bool {
        self.config.placement.of_user(user) != self.config.partition
    }

    /// Whether account `id`, here or as its partition answered, is open in `currency`.
    fn usable_anywhere(&self, id: &Id, currency: Currency) -> Result<(), Rejection> {
        match self.account_standing(id)? {
            (true, _) => Err(Rejection::AccountClosed),
            (false, held) if held != currency => Err(Rejection::CurrencyMismatch),
            (false, _) => Ok(()),
        }
    }
}

impl super::State {
    /// One paid share of an open split left `account`'s escrow (paid out, or back to it).
    pub(super) fn release_share(&mut self, account: &Id) {
        let count = self.escrowed_shares.get_mut(account).expect("every paid open share is counted");
        *count -= 1;
        if *count == 0 {
            self.escrowed_shares.remove(account);
        }
    }
}
