//! Virtual bills: open with an effective window (at most a day, ending in the future), items
//! added by the merchant's terminals inside the window, submit (challenge to the user), confirm
//! with the right challenge (charged, with an optional coupon), cancel, expiry by tick.
//!
//! Rules: five wrong challenges cancel the bill. A paid bill answers a repeated confirmation with
//! its payment; a submitted bill answers a repeated submit with the same nonce with the same
//! challenge. Expiry or cancel charges nothing.

use kassa_engine::command::{AddBillItem, ConfirmBill, OpenBill, Rejection, Reply, SubmitBill};
use kassa_engine::constants::{
    AMOUNT_MINOR_MAX, BILL_CHALLENGE_FAILURES_MAX, BILL_ITEM_QUANTITY_MAX, BILL_ITEMS_MAX, BILL_WINDOW_MS_MAX,
    ITEM_REF_LENGTH_MAX,
};
use kassa_engine::{Currency, Id, TimestampMs};

use super::{Bill, BillStatus, Model, valid_amount, well_formed_code};

impl Model {
    pub(super) fn open_bill(&mut self, now: TimestampMs, open: &OpenBill) -> Result<(), Rejection> {
        if let Some(existing) = self.bills.get(&open.bill) {
            let same = existing.user == open.user
                && existing.account == open.account
                && existing.merchant == open.merchant
                && existing.opens_at_ms == open.opens_at_ms
                && existing.closes_at_ms == open.closes_at_ms;
            return if same { Ok(()) } else { Err(Rejection::AlreadyExists) };
        }
        let currency = self.check_open_bill(now, open)?;
        self.bill_expiry.insert((open.closes_at_ms, open.bill.clone()));
        self.bills.insert(
            open.bill.clone(),
            Bill {
                user: open.user.clone(),
                account: open.account.clone(),
                merchant: open.merchant.clone(),
                currency,
                opens_at_ms: open.opens_at_ms,
                closes_at_ms: open.closes_at_ms,
                items: 0,
                total: 0,
                status: BillStatus::Open,
            },
        );
        Ok(())
    }

    fn check_open_bill(&self, now: TimestampMs, open: &OpenBill) -> Result<Currency, Rejection> {
        let window_ok = open.opens_at_ms < open.closes_at_ms
            && open.closes_at_ms > now
            && open.closes_at_ms - open.opens_at_ms <= BILL_WINDOW_MS_MAX
            && open.closes_at_ms - now <= BILL_WINDOW_MS_MAX;
        if !window_ok {
            return Err(Rejection::InvalidExpiry);
        }
        let account = self.accounts.get(&open.account).ok_or(Rejection::AccountNotFound)?;
        if account.closed {
            return Err(Rejection::AccountClosed);
        }
        let merchant_account = self.merchants.get(&open.merchant).ok_or(Rejection::MerchantNotFound)?;
        self.usable(merchant_account, account.currency, Rejection::CounterpartyNotFound)?;
        Ok(account.currency)
    }

    pub(super) fn add_bill_item(&mut self, now: TimestampMs, add: &AddBillItem) -> Result<(), Rejection> {
        let bill = self.bills.get(&add.bill).ok_or(Rejection::BillNotFound)?;
        if bill.status != BillStatus::Open {
            return Err(Rejection::BillNotOpen);
        }
        if now < bill.opens_at_ms || now >= bill.closes_at_ms {
            return Err(Rejection::OutsideWindow);
        }
        let (terminal_merchant, ..) = self.terminals.get(&add.terminal).ok_or(Rejection::TerminalNotFound)?;
        if *terminal_merchant != bill.merchant {
            return Err(Rejection::WrongMerchant);
        }
        let item_ref_ok = !add.item_ref.is_empty() && add.item_ref.len() <= ITEM_REF_LENGTH_MAX;
        if !item_ref_ok || add.quantity == 0 || add.quantity > BILL_ITEM_QUANTITY_MAX {
            return Err(Rejection::InvalidField);
        }
        valid_amount(add.unit_amount)?;
        if bill.items >= BILL_ITEMS_MAX {
            return Err(Rejection::TooManyItems);
        }
        let line = u128::from(add.unit_amount) * u128::from(add.quantity);
        if line > u128::from(AMOUNT_MINOR_MAX) || u128::from(bill.total) + line > u128::from(AMOUNT_MINOR_MAX) {
            return Err(Rejection::Overflow);
        }
        let bill = self.bills.get_mut(&add.bill).expect("checked");
        bill.items += 1;
        bill.total += u64::try_from(line).expect("at most AMOUNT_MINOR_MAX");
        Ok(())
    }

    pub(super) fn submit_bill(&mut self, now: TimestampMs, submit: &SubmitBill) -> Result<Reply, Rejection> {
        let secret_key = self.secret_key;
        let bill = self.bills.get_mut(&submit.bill).ok_or(Rejection::BillNotFound)?;
        match &bill.status {
            BillStatus::Open => {}
            BillStatus::Submitted { challenge, .. } => {
                return Ok(Reply::BillSubmitted { total: bill.total, challenge: challenge.clone() });
            }
            BillStatus::Expired => return Err(Rejection::Expired),
            _ => return Err(Rejection::BillNotOpen),
        }
        if now >= bill.closes_at_ms {
            return Err(Rejection::Expired);
        }
        if bill.items == 0 {
            return Err(Rejection::BillEmpty);
        }
        let challenge = super::secrets::bill_challenge(&secret_key, &submit.bill, submit.nonce, bill.total);
        bill.status = BillStatus::Submitted { nonce: submit.nonce, challenge: challenge.clone(), failures: 0 };
        Ok(Reply::BillSubmitted { total: bill.total, challenge })
    }

    pub(super) fn confirm_bill(&mut self, now: TimestampMs, confirm: &ConfirmBill) -> Result<Reply, Rejection> {
        let bill = self.bills.get(&confirm.bill).ok_or(Rejection::BillNotFound)?;
        let right_challenge = match &bill.status {
            BillStatus::Submitted { challenge, .. } => challenge.clone(),
            BillStatus::Paid { charged, discount } => {
                return Ok(Reply::BillPaid { charged: *charged, discount: *discount });
            }
            BillStatus::Expired => return Err(Rejection::Expired),
            BillStatus::Open | BillStatus::Cancelled => return Err(Rejection::BillNotOpen),
        };
        if now >= bill.closes_at_ms {
            return Err(Rejection::Expired);
        }
        if !well_formed_code(&confirm.challenge) || confirm.challenge != right_challenge {
            let bill = self.bills.get_mut(&confirm.bill).expect("exists");
            let BillStatus::Submitted { failures, .. } = &mut bill.status else { unreachable!("submitted") };
            *failures += 1;
            if *failures >= BILL_CHALLENGE_FAILURES_MAX {
                bill.status = BillStatus::Cancelled;
                self.bill_expiry.remove(&(bill.closes_at_ms, confirm.bill.clone()));
            }
            return Err(Rejection::IncorrectCode);
        }
        let (user, account, merchant, currency, total) =
            (bill.user.clone(), bill.account.clone(), bill.merchant.clone(), bill.currency, bill.total);
        let merchant_account = self.merchants[&merchant].clone();
        let discount = match &confirm.coupon {
            Some(coupon) => {
                self.quote_payment_coupon(now, (coupon, &user, &merchant), currency, total, confirm.location)?
            }
            None => 0,
        };
        let charged = total - discount;
        if !self.local(&account) || !self.local(&merchant_account) {
            // Checked where each lives: the account (missing, closed, currency, funds), then the
            // merchant's.
            self.usable(&account, currency, Rejection::AccountNotFound)?;
            self.accounts[&account].can_debit(charged)?;
            self.usable(&merchant_account, currency, Rejection::CounterpartyNotFound)?;
            self.accounts[&merchant_account].can_credit(charged)?;
        }
        self.usable(&account, currency, Rejection::AccountNotFound)?;
        self.usable(&merchant_account, currency, Rejection::CounterpartyNotFound)?;
        if charged > 0 {
            self.accounts[&account].can_debit(charged)?;
            self.accounts[&merchant_account].can_credit(charged)?;
            self.move_money(&account, &merchant_account, charged);
        }
        if let Some(coupon) = &confirm.coupon {
            self.redeem_for_payment(now, coupon);
        }
        let bill = self.bills.get_mut(&confirm.bill).expect("exists");
        bill.status = BillStatus::Paid { charged, discount };
        self.bill_expiry.remove(&(bill.closes_at_ms, confirm.bill.clone()));
        Ok(Reply::BillPaid { charged, discount })
    }

    pub(super) fn cancel_bill(&mut self, id: &Id) -> Result<(), Rejection> {
        let bill = self.bills.get_mut(id).ok_or(Rejection::BillNotFound)?;
        match bill.status {
            BillStatus::Open | BillStatus::Submitted { .. } => {
                bill.status = BillStatus::Cancelled;
                self.bill_expiry.remove(&(bill.closes_at_ms, id.clone()));
                Ok(())
            }
            BillStatus::Cancelled => Ok(()),
            BillStatus::Paid { .. } => Err(Rejection::BillNotOpen),
            BillStatus::Expired => Err(Rejection::Expired),
        }
    }

    pub(super) fn expire_bills(&mut self, now: TimestampMs) -> u32 {
        let due: Vec<Id> = self.bill_expiry.iter().take_while(|(at, _)| *at <= now).map(|(_, id)| id.clone()).collect();
        for id in &due {
            self.bill_expiry.remove(&(self.bills[id].closes_at_ms, id.clone()));
            self.bills.get_mut(id).expect("indexed").status = BillStatus::Expired;
        }
        u32::try_from(due.len()).expect("fits")
    }
}
