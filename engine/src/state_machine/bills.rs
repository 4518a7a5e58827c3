//! Virtual bills (per-bill actor): open for a user with an effective window, terminals add items
//! while it is open and in the window, submit totals it and issues a verification challenge to
//! the user, confirming with the challenge charges the account. Expiry or cancel charges nothing.

use serde::{Deserialize, Serialize};

use super::StateMachine;
use super::refunds::RefundEntry;
use super::secrets::is_code;
use super::transit::Charge;
use crate::command::{
    AddBillItem, Change, ConfirmBill, Event, ObjectKind, OpenBill, Outcome, PostingCause, Rejection, Reply, SubmitBill,
};
use crate::constants::{
    AMOUNT_MINOR_MAX, BILL_CHALLENGE_DIGITS, BILL_CHALLENGE_FAILURES_MAX, BILL_ITEM_QUANTITY_MAX, BILL_ITEMS_MAX,
    BILL_WINDOW_MS_MAX, ITEM_REF_LENGTH_MAX,
};
use crate::types::{Currency, Id, TimestampMs};

const CHALLENGE_DOMAIN: &str = "kassa.bill-challenge.v1";
const CHALLENGE_HASH_DOMAIN: &str = "kassa.bill-challenge-hash.v1";

/// One line of a bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillItem {
    /// The terminal that added it.
    pub terminal: Id,
    /// Merchant's item reference.
    pub item_ref: String,
    /// Units.
    pub quantity: u32,
    /// Price per unit in minor units.
    pub unit_amount: u64,
}

/// Where a bill is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BillState {
    /// Taking items.
    Open,
    /// Totalled; waiting for the user's confirmation.
    Submitted {
        /// The challenge's nonce (a retried submit returns the same challenge).
        nonce: u64,
        /// Keyed hash of the challenge.
        challenge_hash: [u8; 32],
        /// Wrong challenges so far.
        failures: u32,
    },
    /// Charged.
    Paid {
        /// Amount charged.
        charged: u64,
        /// Coupon discount.
        discount: u64,
    },
    /// Cancelled (by request or after too many wrong challenges); nothing charged.
    Cancelled,
    /// The window closed before payment; nothing charged.
    Expired,
}

/// A virtual bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bill {
    /// The paying user.
    pub user: Id,
    /// The charged account.
    pub account: Id,
    /// The paid merchant.
    pub merchant: Id,
    /// The account's currency.
    pub currency: Currency,
    /// Start of the effective window.
    pub opens_at_ms: TimestampMs,
    /// End of the effective window.
    pub closes_at_ms: TimestampMs,
    /// Lines, in order added.
    pub items: Vec<BillItem>,
    /// Sum of the lines.
    pub total: u64,
    /// Where it is in its life.
    pub state: BillState,
    /// Refunds of a paid bill (`RefundBill`), in order.
    pub refunds: Vec<RefundEntry>,
}

impl StateMachine {
    pub(super) fn open_bill(&mut self, now: TimestampMs, open: &OpenBill, events: &mut Vec<Event>) -> Outcome {
        if let Some(existing) = self.state.bills.get(&open.bill) {
            let same = existing.user == open.user
                && existing.account == open.account
                && existing.merchant == open.merchant
                && existing.opens_at_ms == open.opens_at_ms
                && existing.closes_at_ms == open.closes_at_ms;
            return if same { Outcome::Applied(Reply::Done) } else { Outcome::Rejected(Rejection::AlreadyExists) };
        }
        match self.check_open_bill(now, open) {
            Err(rejection) => Outcome::Rejected(rejection),
            Ok(currency) => {
                let bill = Bill {
                    user: open.user.clone(),
                    account: open.account.clone(),
                    merchant: open.merchant.clone(),
                    currency,
                    opens_at_ms: open.opens_at_ms,
                    closes_at_ms: open.closes_at_ms,
                    items: Vec::new(),
                    total: 0,
                    state: BillState::Open,
                    refunds: Vec::new(),
                };
                self.state.bills.insert(open.bill.clone(), bill);
                self.state.bill_expiry.insert((open.closes_at_ms, open.bill.clone()));
                Self::changed(events, ObjectKind::Bill, &open.bill, Change::Opened);
                Outcome::Applied(Reply::Done)
            }
        }
    }

    fn check_open_bill(&self, now: TimestampMs, open: &OpenBill) -> Result<Currency, Rejection> {
        if open.opens_at_ms >= open.closes_at_ms
            || open.closes_at_ms <= now
            || open.closes_at_ms - open.opens_at_ms > BILL_WINDOW_MS_MAX
            || open.closes_at_ms - now > BILL_WINDOW_MS_MAX
        {
            return Err(Rejection::InvalidExpiry);
        }
        // The account may live on another partition, checked there first.
        let (closed, currency) = self.account_standing(&open.account)?;
        if closed {
            return Err(Rejection::AccountClosed);
        }
        let merchant = self.state.merchants.get(&open.merchant).ok_or(Rejection::MerchantNotFound)?;
        self.merchant_account_usable(&merchant.account, currency)?;
        Ok(currency)
    }

    pub(super) fn add_bill_item(&mut self, now: TimestampMs, add: &AddBillItem, events: &mut Vec<Event>) -> Outcome {
        match self.check_bill_item(now, add) {
            Err(rejection) => Outcome::Rejected(rejection),
            Ok(line) => {
                let bill = self.state.bills.get_mut(&add.bill).expect("checked");
                bill.items.push(BillItem {
                    terminal: add.terminal.clone(),
                    item_ref: add.item_ref.clone(),
                    quantity: add.quantity,
                    unit_amount: add.unit_amount,
                });
                bill.total += line;
                Self::changed(events, ObjectKind::Bill, &add.bill, Change::ItemAdded);
                Outcome::Applied(Reply::Done)
            }
        }
    }

    /// Checks an item against its bill; returns the line amount.
    fn check_bill_item(&self, now: TimestampMs, add: &AddBillItem) -> Result<u64, Rejection> {
        let bill = self.state.bills.get(&add.bill).ok_or(Rejection::BillNotFound)?;
        if bill.state != BillState::Open {
            return Err(Rejection::BillNotOpen);
        }
        if now < bill.opens_at_ms || now >= bill.closes_at_ms {
            return Err(Rejection::OutsideWindow);
        }
        let terminal = self.state.terminals.get(&add.terminal).ok_or(Rejection::TerminalNotFound)?;
        if terminal.merchant != bill.merchant {
            return Err(Rejection::WrongMerchant);
        }
        if add.item_ref.is_empty()
            || add.item_ref.len() > ITEM_REF_LENGTH_MAX
            || add.quantity == 0
            || add.quantity > BILL_ITEM_QUANTITY_MAX
        {
            return Err(Rejection::InvalidField);
        }
        Self::check_amount(add.unit_amount)?;
        if bill.items.len() >= BILL_ITEMS_MAX {
            return Err(Rejection::TooManyItems);
        }
        let line = add.unit_amount.checked_mul(u64::from(add.quantity)).ok_or(Rejection::Overflow)?;
        if line > AMOUNT_MINOR_MAX || bill.total + line > AMOUNT_MINOR_MAX {
            return Err(Rejection::Overflow);
        }
        Ok(line)
    }

    fn challenge(&self, bill_id: &Id, bill: &Bill, nonce: u64) -> String {
        let parts: [&[u8]; 3] = [bill_id.as_str().as_bytes(), &nonce.to_be_bytes(), &bill.total.to_be_bytes()];
        self.config.secret_key.digits(CHALLENGE_DOMAIN, &parts, BILL_CHALLENGE_DIGITS)
    }

    pub(super) fn submit_bill(&mut self, now: TimestampMs, submit: &SubmitBill, events: &mut Vec<Event>) -> Outcome {
        let Some(bill) = self.state.bills.get(&submit.bill) else {
            return Outcome::Rejected(Rejection::BillNotFound);
        };
        match bill.state {
            BillState::Open => {}
            // A resubmission (any nonce: the shell's randomness) answers the challenge issued.
            BillState::Submitted { nonce, .. } => {
                let challenge = self.challenge(&submit.bill, bill, nonce);
                return Outcome::Applied(Reply::BillSubmitted { total: bill.total, challenge });
            }
            BillState::Expired => return Outcome::Rejected(Rejection::Expired),
            _ => return Outcome::Rejected(Rejection::BillNotOpen),
        }
        if now >= bill.closes_at_ms {
            return Outcome::Rejected(Rejection::Expired);
        }
        if bill.items.is_empty() {
            return Outcome::Rejected(Rejection::BillEmpty);
        }
        let challenge = self.challenge(&submit.bill, bill, submit.nonce);
        let challenge_hash = self
            .config
            .secret_key
            .hash(CHALLENGE_HASH_DOMAIN, &[submit.bill.as_str().as_bytes(), challenge.as_bytes()]);
        let bill = self.state.bills.get_mut(&submit.bill).expect("exists");
        bill.state = BillState::Submitted { nonce: submit.nonce, challenge_hash, failures: 0 };
        let total = bill.total;
        Self::changed(events, ObjectKind::Bill, &submit.bill, Change::Submitted);
        Outcome::Applied(Reply::BillSubmitted { total, challenge })
    }

    pub(super) fn confirm_bill(&mut self, now: TimestampMs, confirm: &ConfirmBill, events: &mut Vec<Event>) -> Outcome {
        let Some(bill) = self.state.bills.get(&confirm.bill) else {
            return Outcome::Rejected(Rejection::BillNotFound);
        };
        match &bill.state {
            BillState::Submitted { .. } => {}
            BillState::Paid { charged, discount } => {
                return Outcome::Applied(Reply::BillPaid { charged: *charged, discount: *discount });
            }
            BillState::Expired => return Outcome::Rejected(Rejection::Expired),
            BillState::Open | BillState::Cancelled => return Outcome::Rejected(Rejection::BillNotOpen),
        };
        if now >= bill.closes_at_ms {
            return Outcome::Rejected(Rejection::Expired);
        }
        if !self.challenge_answers(&confirm.bill, &confirm.challenge) {
            self.record_challenge_failure(&confirm.bill, events);
            return Outcome::Rejected(Rejection::IncorrectCode);
        }
        match self.charge_bill(now, confirm, events) {
            Ok(reply) => Outcome::Applied(reply),
            Err(rejection) => Outcome::Rejected(rejection),
        }
    }

    /// Whether bill `id` is submitted and `challenge` is its challenge (nothing changes).
    pub(super) fn challenge_answers(&self, id: &Id, challenge: &str) -> bool {
        let Some(BillState::Submitted { challenge_hash, .. }) = self.state.bills.get(id).map(|bill| &bill.state) else {
            return false;
        };
        let parts: [&[u8]; 2] = [id.as_str().as_bytes(), challenge.as_bytes()];
        is_code(challenge) && self.config.secret_key.verify(CHALLENGE_HASH_DOMAIN, &parts, challenge_hash)
    }

    fn record_challenge_failure(&mut self, bill_id: &Id, events: &mut Vec<Event>) {
        let bill = self.state.bills.get_mut(bill_id).expect("exists");
        let BillState::Submitted { failures, .. } = &mut bill.state else { unreachable!("checked submitted") };
        *failures += 1;
        events.push(Event::CodeRejected { subject: bill_id.clone() });
        if *failures >= BILL_CHALLENGE_FAILURES_MAX {
            bill.state = BillState::Cancelled;
            let removed = self.state.bill_expiry.remove(&(bill.closes_at_ms, bill_id.clone()));
            assert!(removed, "an unresolved bill is in the expiry index");
            Self::changed(events, ObjectKind::Bill, bill_id, Change::Locked);
            self.resolved(super::ArchivedKind::Bill, bill_id);
        }
    }

    fn charge_bill(
        &mut self,
        now: TimestampMs,
        confirm: &ConfirmBill,
        events: &mut Vec<Event>,
    ) -> Result<Reply, Rejection> {
        let bill = &self.state.bills[&confirm.bill];
        let (user, account, merchant, currency, total) =
            (bill.user.clone(), bill.account.clone(), bill.merchant.clone(), bill.currency, bill.total);
        let merchant_account = self.state.merchants[&merchant].account.clone();
        let discount = match &confirm.coupon {
            // A coupon of another partition, priced there (`transit/coupons.rs`).
            Some(coupon) if !self.coupon_lives_here(coupon) => {
                self.take_quote(coupon).unwrap_or(Err(Rejection::CrossPartition))?
            }
            Some(coupon) => {
                self.quote_payment_coupon(now, coupon, &user, &merchant, (currency, total), confirm.location)?
            }
            None => 0,
        };
        // A coupon here is kept for a charge in flight and redeemed with it; one elsewhere is
        // kept there until the confirmation's end.
        let coupon = confirm.coupon.as_ref().filter(|coupon| self.coupon_lives_here(coupon));
        let charged = total - discount;
        if !self.lives_here(&account) || !self.lives_here(&merchant_account) {
            // The account's partition checks and debits it, then the merchant's account is
            // paid where it lives; the coupon is redeemed if that is approved.
            let charge = Charge { charged, discount, coupon, currency };
            self.charge_across(&confirm.bill, (&account, &merchant_account), charge, events)?;
            return Ok(Reply::Done);
        }
        self.usable_account(&account, currency, Rejection::AccountNotFound)?;
        self.usable_account(&merchant_account, currency, Rejection::CounterpartyNotFound)?;
        if charged > 0 {
            self.check_debit(&account, charged)?;
            self.check_credit(&merchant_account, charged)?;
            self.move_money(
                &account,
                &merchant_account,
                charged,
                PostingCause::BillCharge(confirm.bill.clone()),
                events,
            );
        }
        if let Some(coupon) = coupon {
            self.redeem_coupon_for_payment(now, coupon, events);
        }
        let bill = self.state.bills.get_mut(&confirm.bill).expect("exists");
        bill.state = BillState::Paid { charged, discount };
        let removed = self.state.bill_expiry.remove(&(bill.closes_at_ms, confirm.bill.clone()));
        assert!(removed, "an unresolved bill is in the expiry index");
        Self::changed(events, ObjectKind::Bill, &confirm.bill, Change::Completed);
        self.resolved(super::ArchivedKind::Bill, &confirm.bill);
        Ok(Reply::BillPaid { charged, discount })
    }

    pub(super) fn cancel_bill(&mut self, id: &Id, events: &mut Vec<Event>) -> Outcome {
        let Some(bill) = self.state.bills.get_mut(id) else {
            return Outcome::Rejected(Rejection::BillNotFound);
        };
        match bill.state {
            BillState::Open | BillState::Submitted { .. } => {
                bill.state = BillState::Cancelled;
                let removed = self.state.bill_expiry.remove(&(bill.closes_at_ms, id.clone()));
                assert!(removed, "an unresolved bill is in the expiry index");
                Self::changed(events, ObjectKind::Bill, id, Change::Cancelled);
                self.resolved(super::ArchivedKind::Bill, id);
                Outcome::Applied(Reply::Done)
            }
            BillState::Cancelled => Outcome::Applied(Reply::Done),
            BillState::Paid { .. } => Outcome::Rejected(Rejection::BillNotOpen),
            BillState::Expired => Outcome::Rejected(Rejection::Expired),
        }
    }

    /// Expires every unresolved bill whose window closed by `now`.
    pub(super) fn expire_bills(&mut self, now: TimestampMs, events: &mut Vec<Event>) -> u32 {
        let mut expired = 0;
        while let Some((closes_at_ms, id)) = self.state.bill_expiry.first().cloned() {
            if closes_at_ms > now {
                break;
            }
            self.state.bill_expiry.pop_first();
            let bill = self.state.bills.get_mut(&id).expect("indexed bill exists");
            assert!(matches!(bill.state, BillState::Open | BillState::Submitted { .. }));
            bill.state = BillState::Expired;
            Self::changed(events, ObjectKind::Bill, &id, Change::Expired);
            self.resolved(super::ArchivedKind::Bill, &id);
            expired += 1;
        }
        expired
    }
}
