//! Refunds in the model (`RefundPos`, `RefundBill`), written from the rules, not from the
//! engine's code: every refund given is kept in one ordered map keyed by what it refunds.
//!
//! Checks in order: the object (missing; nothing charged: a declined settlement or an unpaid
//! bill is `not_reversible`), a repeat of a refund id (same amount: the first answer, no money
//! moves; another amount: `id_reused`), the amount (1..=10^15), what is left to refund (the
//! charge, or what a pre-authorization captured, less the earlier refunds; nothing once
//! reversed), the count (16), then the accounts (closed, the merchant's funds, the ceiling).

use kassa_engine::Id;
use kassa_engine::command::{Refund, Rejection, Reply};
use kassa_engine::constants::REFUNDS_MAX;

use std::collections::BTreeMap;

use super::{BillStatus, HoldStatus, Model, SplitStatus, valid_amount};

/// What a refund refunds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refunded {
    /// A POS settlement.
    Settlement,
    /// A bill.
    Bill,
}

/// One refund given: its id, amount, and what was left after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenRefund {
    /// The refund's id.
    pub id: Id,
    /// Amount given back.
    pub amount: u64,
    /// Left to refund right after it.
    pub left_after: u64,
}

impl Model {
    /// The refunds of one settlement or bill, in order.
    pub fn refunds_of(&self, kind: Refunded, of: &Id) -> &[GivenRefund] {
        self.refunds.get(&(kind, of.clone())).map_or(&[], Vec::as_slice)
    }

    fn given(&self, kind: Refunded, of: &Id) -> u64 {
        self.refunds_of(kind, of).iter().map(|given| given.amount).sum()
    }

    pub(super) fn refund_pos(&mut self, refund: &Refund) -> Result<Reply, Rejection> {
        let settlement = self.settlements.get(&refund.of).ok_or(Rejection::SettlementNotFound)?;
        let effect = settlement.effect.clone().ok_or(Rejection::NotReversible)?;
        let charge = if effect.reversed {
            self.given(Refunded::Settlement, &refund.of)
        } else if effect.held {
            if let HoldStatus::Captured(captured) = self.holds[&refund.of].status { captured } else { 0 }
        } else {
            effect.charged
        };
        self.give(Refunded::Settlement, refund, charge, (&effect.merchant_account, &effect.account))
    }

    pub(super) fn refund_bill(&mut self, refund: &Refund) -> Result<Reply, Rejection> {
        let bill = self.bills.get(&refund.of).ok_or(Rejection::BillNotFound)?;
        let BillStatus::Paid { charged, .. } = bill.status else { return Err(Rejection::NotReversible) };
        let (merchant, account) = (bill.merchant.clone(), bill.account.clone());
        if let Some(reply) = self.repeat(Refunded::Bill, refund)? {
            return Ok(reply);
        }
        let merchant_account = self.merchants.get(&merchant).ok_or(Rejection::MerchantNotFound)?.clone();
        self.give(Refunded::Bill, refund, charged, (&merchant_account, &account))
    }

    /// A completed split refunded whole by its requester's account, each member's account paid
    /// back its share; all or nothing (closed accounts, then the requester's funds, then each
    /// member account's ceiling, shares summed per account).
    pub(super) fn refund_completed_split(&mut self, id: &Id) -> Result<Reply, Rejection> {
        let split = self.splits.get(id).ok_or(Rejection::SplitNotFound)?;
        let total: u64 = split.shares.iter().sum();
        match split.status {
            SplitStatus::Completed => {}
            SplitStatus::Refunded => return Ok(Reply::Refunded { amount: total, remaining: 0 }),
            _ => return Err(Rejection::NotReversible),
        }
        let payer = split.requester_account.clone();
        if !self.local(&payer) || split.members.iter().any(|member| !self.local(&member.account)) {
            return self.refund_split_across(id, total);
        }
        let mut owed: BTreeMap<Id, u64> = BTreeMap::new();
        for (member, share) in split.members.iter().zip(&split.shares) {
            *owed.entry(member.account.clone()).or_default() += share;
        }
        if self.accounts[&payer].closed || owed.keys().any(|account| self.accounts[account].closed) {
            return Err(Rejection::AccountClosed);
        }
        self.accounts[&payer].can_debit(total)?;
        for (account, amount) in &owed {
            self.accounts[account].can_credit(*amount)?;
        }
        for (account, amount) in owed {
            self.move_money(&payer, &account, amount);
        }
        self.splits.get_mut(id).expect("found").status = SplitStatus::Refunded;
        Ok(Reply::Refunded { amount: total, remaining: 0 })
    }

    /// A completed split's refund whose accounts live on several partitions: the member accounts
    /// are decided first, in order (closed, ceiling: each is reserved where it lives), then the
    /// requester's (closed, funds).
    fn refund_split_across(&mut self, id: &Id, total: u64) -> Result<Reply, Rejection> {
        let split = &self.splits[id];
        let payer = split.requester_account.clone();
        let mut owed: Vec<(Id, u64)> = Vec::new();
        for (member, share) in split.members.iter().zip(&split.shares) {
            match owed.iter_mut().find(|(account, _)| *account == member.account) {
                Some((_, sum)) => *sum += share,
                None => owed.push((member.account.clone(), *share)),
            }
        }
        for (account, amount) in &owed {
            if self.accounts[account].closed {
                return Err(Rejection::AccountClosed);
            }
            self.accounts[account].can_credit(*amount)?;
        }
        if self.accounts[&payer].closed {
            return Err(Rejection::AccountClosed);
        }
        self.accounts[&payer].can_debit(total)?;
        for (account, amount) in owed {
            self.move_money(&payer, &account, amount);
        }
        self.splits.get_mut(id).expect("found").status = SplitStatus::Refunded;
        Ok(Reply::Refunded { amount: total, remaining: 0 })
    }

    /// The first answer to a repeated refund id, `id_reused` for another amount, `None` if new.
    fn repeat(&self, kind: Refunded, refund: &Refund) -> Result<Option<Reply>, Rejection> {
        match self.refunds_of(kind, &refund.of).iter().find(|given| given.id == refund.refund) {
            Some(given) if given.amount == refund.amount => {
                Ok(Some(Reply::Refunded { amount: given.amount, remaining: given.left_after }))
            }
            Some(_) => Err(Rejection::IdReused),
            None => Ok(None),
        }
    }

    fn give(
        &mut self,
        kind: Refunded,
        refund: &Refund,
        charge: u64,
        (from, to): (&Id, &Id),
    ) -> Result<Reply, Rejection> {
        if let Some(reply) = self.repeat(kind, refund)? {
            return Ok(reply);
        }
        valid_amount(refund.amount)?;
        let left = charge.saturating_sub(self.given(kind, &refund.of));
        if refund.amount > left {
            return Err(Rejection::RefundExceedsCharge);
        }
        if self.refunds_of(kind, &refund.of).len() >= REFUNDS_MAX {
            return Err(Rejection::TooManyRefunds);
        }
        self.give_back((from, to), refund.amount)?;
        let left_after = left - refund.amount;
        let given = GivenRefund { id: refund.refund.clone(), amount: refund.amount, left_after };
        self.refunds.entry((kind, refund.of.clone())).or_default().push(given);
        Ok(Reply::Refunded { amount: refund.amount, remaining: left_after })
    }

    /// Moves `amount` from a merchant's account back to the charged one: on one partition both
    /// are checked closed, then the merchant's funds, then the payee's ceiling; where either
    /// lives elsewhere (a settlement's payer), each is checked where it lives, the merchant's
    /// account (closed, funds) before the payer's (closed, ceiling).
    pub(super) fn give_back(&mut self, (from, to): (&Id, &Id), amount: u64) -> Result<(), Rejection> {
        if self.local(from) && self.local(to) {
            if self.accounts[from].closed || self.accounts[to].closed {
                return Err(Rejection::AccountClosed);
            }
            self.accounts[from].can_debit(amount)?;
            self.accounts[to].can_credit(amount)?;
        } else {
            for (account, debit) in [(from, true), (to, false)] {
                if self.accounts[account].closed {
                    return Err(Rejection::AccountClosed);
                }
                let account = &self.accounts[account];
                if debit { account.can_debit(amount)? } else { account.can_credit(amount)? }
            }
        }
        self.move_money(from, to, amount);
        Ok(())
    }
}
