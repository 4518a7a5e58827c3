//! Generation of virtual bill commands.

use super::*;

impl Generator {
    // ----- bills -----------------------------------------------------------------------------

    pub(super) fn open_bill(&mut self, model: &Model, now: TimestampMs, batch: &mut Vec<Command>) {
        let user = self.user();
        let account = if self.pm(850) { self.home(&user) } else { self.account(model).0 };
        let currency = self.currency_of(model, &account);
        let same_currency: Vec<Id> = self
            .merchants
            .iter()
            .filter(|m| model.merchants.get(*m).is_some_and(|a| self.currency_of(model, a) == currency))
            .cloned()
            .collect();
        let merchant = match self.pick(&same_currency) {
            Some(merchant) if self.pm(850) => merchant,
            _ => self.merchant(model),
        };
        let opens_at_ms = match self.rng.random_range(0..100) {
            0..75 => now.saturating_sub(self.range(0, 10 * MINUTE)),
            _ => now + self.range(1_000, 30 * MINUTE),
        };
        let closes_at_ms = match self.rng.random_range(0..100) {
            0..80 => opens_at_ms + self.range(MINUTE, 3 * HOUR),
            80..88 => opens_at_ms + self.range(3 * HOUR, BILL_WINDOW_MS_MAX),
            88..90 => now + BILL_WINDOW_MS_MAX,
            90..92 => opens_at_ms + BILL_WINDOW_MS_MAX + 1,
            92..94 => opens_at_ms,
            94..96 => now + BILL_WINDOW_MS_MAX + 1,
            _ => now.saturating_sub(self.range(0, MINUTE)),
        };
        let bill = self.fresh("b");
        self.bills.push(bill.clone());
        batch.push(Command::OpenBill(OpenBill { bill, user, account, merchant, opens_at_ms, closes_at_ms }));
    }

    /// A terminal of the bill's merchant, mostly.
    pub(super) fn bill_terminal(&mut self, model: &Model, bill: &Id) -> Id {
        if let Some(b) = model.bills.get(bill)
            && self.pm(880)
        {
            let own: Vec<Id> = self
                .terminals
                .iter()
                .filter(|t| model.terminals.get(*t).is_some_and(|(merchant, ..)| *merchant == b.merchant))
                .cloned()
                .collect();
            if let Some(terminal) = self.pick(&own) {
                return terminal;
            }
        }
        if self.pm(50) { id("t-unknown") } else { self.pick(&self.terminals.clone()).expect("terminals") }
    }

    pub(super) fn bill_item(&mut self, bill: Id, terminal: Id) -> AddBillItem {
        let item_ref = match self.rng.random_range(0..100) {
            0..94 => format!("sku-{}", self.range(1, 500)),
            94..96 => String::new(),
            96..98 => "x".repeat(65),
            _ => "y".repeat(64),
        };
        let quantity = match self.rng.random_range(0..100) {
            0..88 => self.rng.random_range(1..=5),
            88..92 => 0,
            92..96 => BILL_ITEM_QUANTITY_MAX,
            _ => BILL_ITEM_QUANTITY_MAX + 1,
        };
        let unit_amount = match self.rng.random_range(0..100) {
            0..88 => self.range(1, 5_000),
            88..91 => 0,
            91..95 => self.range(AMOUNT_MINOR_MAX / 20_000, AMOUNT_MINOR_MAX),
            95..97 => AMOUNT_MINOR_MAX + 1,
            _ => self.money(),
        };
        AddBillItem { bill, terminal, item_ref, quantity, unit_amount }
    }

    pub(super) fn add_bill_item(&mut self, model: &Model, now: TimestampMs, batch: &mut Vec<Command>) {
        let bill = self.aim("b", |g| &g.bills, |b| open_bill_in_window(model, b, now));
        let terminal = self.bill_terminal(model, &bill);
        batch.push(Command::AddBillItem(self.bill_item(bill, terminal)));
    }

    /// 501 items on one bill: the last is refused (too many items).
    pub(super) fn fill_bill(&mut self, model: &Model, now: TimestampMs, batch: &mut Vec<Command>) {
        let bill = self.aim("b", |g| &g.bills, |b| open_bill_in_window(model, b, now));
        let terminal = self.bill_terminal(model, &bill);
        for _ in 0..=BILL_ITEMS_MAX {
            let unit_amount = self.range(1, 100);
            let item_ref = "bulk".to_string();
            batch.push(Command::AddBillItem(AddBillItem {
                bill: bill.clone(),
                terminal: terminal.clone(),
                item_ref,
                quantity: 1,
                unit_amount,
            }));
        }
    }

    pub(super) fn submit_bill(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let bill = self.aim(
            "b",
            |g| &g.bills,
            |b| model.bills.get(b).is_some_and(|b| b.status == BillStatus::Open && b.items > 0),
        );
        let nonce = match model.bills.get(&bill).map(|b| &b.status) {
            Some(BillStatus::Submitted { nonce, .. }) if self.pm(500) => *nonce,
            _ => self.rng.random(),
        };
        batch.push(Command::SubmitBill(SubmitBill { bill, nonce }));
    }

    pub(super) fn confirm_bill(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let bill = self.aim(
            "b",
            |g| &g.bills,
            |b| model.bills.get(b).is_some_and(|b| matches!(b.status, BillStatus::Submitted { .. })),
        );
        let (challenge, coupon) = match model.bills.get(&bill) {
            Some(b) => {
                let right = match &b.status {
                    BillStatus::Submitted { challenge, .. } => Some(challenge.clone()),
                    _ => None,
                };
                let challenge = match right {
                    Some(right) if self.pm(820) => right,
                    right => self.wrong_code(right.as_deref(), 6),
                };
                let coupon = if self.pm(250) {
                    let (user, merchant) = (b.user.clone(), b.merchant.clone());
                    self.coupon_of(model, &user, Some(&merchant))
                } else {
                    None
                };
                (challenge, coupon)
            }
            None => (self.wrong_code(None, 6), None),
        };
        let location = match &coupon {
            Some(coupon) if self.pm(600) => self.location_for(model.coupons.get(coupon)),
            _ => None,
        };
        batch.push(Command::ConfirmBill(ConfirmBill { bill, challenge, coupon, location }));
    }

    /// Five wrong challenges: the bill is cancelled; then the right one is refused.
    pub(super) fn wrong_challenges(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let bill = self.aim(
            "b",
            |g| &g.bills,
            |b| model.bills.get(b).is_some_and(|b| matches!(b.status, BillStatus::Submitted { .. })),
        );
        let right = match model.bills.get(&bill).map(|b| &b.status) {
            Some(BillStatus::Submitted { challenge, .. }) => Some(challenge.clone()),
            _ => None,
        };
        for _ in 0..5 {
            let challenge = self.wrong_code(right.as_deref(), 6);
            batch.push(Command::ConfirmBill(ConfirmBill {
                bill: bill.clone(),
                challenge,
                coupon: None,
                location: None,
            }));
        }
        if let Some(challenge) = right {
            batch.push(Command::ConfirmBill(ConfirmBill { bill, challenge, coupon: None, location: None }));
        }
    }
}
