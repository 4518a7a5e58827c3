//! Group-payment splits: equal shares (remainder units one each to the first members) or
//! explicit shares summing to the total; each member pays once into escrow; the payment that
//! completes the split pays the requester; cancel or expiry refunds every paid share (even into
//! a closed account).

use kassa_engine::command::{PaySplitShare, Rejection, Reply, RequestSplit, SplitShares};
use kassa_engine::constants::{SPLIT_MEMBERS_MAX, SPLIT_TTL_MS_MAX};
use kassa_engine::{Id, TimestampMs};

use super::{Model, Split, SplitStatus, signed, valid_amount};

impl Model {
    pub(super) fn request_split(&mut self, now: TimestampMs, request: &RequestSplit) -> Result<Reply, Rejection> {
        if let Some(existing) = self.splits.get(&request.split) {
            let same = existing.requester == request.requester
                && existing.requester_account == request.requester_account
                && existing.total == request.total
                && existing.currency == request.currency
                && existing.members == request.members
                && existing.request_shares == request.shares
                && existing.expires_at_ms == request.expires_at_ms;
            return if same {
                Ok(Reply::SplitRequested { shares: existing.shares.clone() })
            } else {
                Err(Rejection::AlreadyExists)
            };
        }
        valid_amount(request.total)?;
        if request.expires_at_ms <= now || request.expires_at_ms - now > SPLIT_TTL_MS_MAX {
            return Err(Rejection::InvalidExpiry);
        }
        let count = request.members.len();
        if count == 0 || count > SPLIT_MEMBERS_MAX {
            return Err(Rejection::InvalidShares);
        }
        let mut users = std::collections::BTreeSet::new();
        if !request.members.iter().all(|member| users.insert(&member.user)) {
            return Err(Rejection::InvalidShares);
        }
        self.usable(&request.requester_account, request.currency, Rejection::AccountNotFound)?;
        for member in &request.members {
            self.usable(&member.account, request.currency, Rejection::AccountNotFound)?;
        }
        let count64 = u64::try_from(count).expect("at most 100");
        let shares = match &request.shares {
            SplitShares::Equal => {
                if request.total < count64 {
                    return Err(Rejection::InvalidShares);
                }
                let (base, extra) = (request.total / count64, request.total % count64);
                (0..count64).map(|index| if index < extra { base + 1 } else { base }).collect()
            }
            SplitShares::Explicit(shares) => {
                let sum: u128 = shares.iter().map(|share| u128::from(*share)).sum();
                if shares.len() != count || shares.contains(&0) || sum != u128::from(request.total) {
                    return Err(Rejection::InvalidShares);
                }
                shares.clone()
            }
        };
        self.split_expiry.insert((request.expires_at_ms, request.split.clone()));
        self.splits.insert(
            request.split.clone(),
            Split {
                requester: request.requester.clone(),
                requester_account: request.requester_account.clone(),
                currency: request.currency,
                total: request.total,
                members: request.members.clone(),
                request_shares: request.shares.clone(),
                shares: shares.clone(),
                paid: vec![false; count],
                escrow: 0,
                expires_at_ms: request.expires_at_ms,
                status: SplitStatus::Open,
            },
        );
        Ok(Reply::SplitRequested { shares })
    }

    pub(super) fn pay_split_share(&mut self, now: TimestampMs, pay: &PaySplitShare) -> Result<Reply, Rejection> {
        let split = self.splits.get(&pay.split).ok_or(Rejection::SplitNotFound)?;
        if split.status != SplitStatus::Open {
            return Err(Rejection::SplitClosed);
        }
        if now >= split.expires_at_ms {
            return Err(Rejection::Expired);
        }
        let index = split.members.iter().position(|member| member.user == pay.member).ok_or(Rejection::NotAMember)?;
        if split.paid[index] {
            return Err(Rejection::AlreadyPaid);
        }
        let (account, share) = (split.members[index].account.clone(), split.shares[index]);
        self.usable(&account, split.currency, Rejection::AccountNotFound)?.can_debit(share)?;
        let last = split.paid.iter().filter(|paid| !**paid).count() == 1;
        if last {
            self.usable(&split.requester_account, split.currency, Rejection::CounterpartyNotFound)?
                .can_credit(split.total)?;
        }
        self.account_mut(&account).posted -= signed(share);
        let split = self.splits.get_mut(&pay.split).expect("exists");
        split.paid[index] = true;
        split.escrow += share;
        if last {
            let (requester_account, total, expires_at_ms) =
                (split.requester_account.clone(), split.total, split.expires_at_ms);
            split.escrow -= total;
            split.status = SplitStatus::Completed;
            self.split_expiry.remove(&(expires_at_ms, pay.split.clone()));
            self.account_mut(&requester_account).posted += signed(total);
        }
        Ok(Reply::SharePaid { amount: share, completed: last })
    }

    pub(super) fn cancel_split(&mut self, id: &Id) -> Result<Reply, Rejection> {
        let split = self.splits.get(id).ok_or(Rejection::SplitNotFound)?;
        match split.status {
            SplitStatus::Open => {
                let refunded = self.refund_split(id, SplitStatus::Cancelled);
                Ok(Reply::SplitCancelled { refunded })
            }
            SplitStatus::Cancelled | SplitStatus::Completed | SplitStatus::Refunded => Err(Rejection::SplitClosed),
            SplitStatus::Expired => Err(Rejection::Expired),
        }
    }

    /// Refunds every paid share and closes the split as `status`; returns the total refunded.
    fn refund_split(&mut self, id: &Id, status: SplitStatus) -> u64 {
        let split = self.splits.get_mut(id).expect("exists");
        let refunds: Vec<(Id, u64)> = (0..split.members.len())
            .filter(|index| split.paid[*index])
            .map(|index| (split.members[index].account.clone(), split.shares[index]))
            .collect();
        split.escrow = 0;
        split.status = status;
        let expires_at_ms = split.expires_at_ms;
        self.split_expiry.remove(&(expires_at_ms, id.clone()));
        let mut refunded = 0;
        for (account, share) in refunds {
            self.account_mut(&account).posted += signed(share);
            refunded += share;
        }
        refunded
    }

    pub(super) fn expire_splits(&mut self, now: TimestampMs) -> u32 {
        let due: Vec<Id> =
            self.split_expiry.iter().take_while(|(at, _)| *at <= now).map(|(_, id)| id.clone()).collect();
        for id in &due {
            self.refund_split(id, SplitStatus::Expired);
        }
        u32::try_from(due.len()).expect("fits")
    }
}
