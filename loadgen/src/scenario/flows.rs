//! The flows a worker drives, one method each: transfers, POS sales, holds (and ISO 8583
//! pre-authorizations), bills, splits and coupons; each step recorded under its name.

use std::sync::PoisonError;
use std::time::Instant;

use kassa_engine::Reply;
use kassa_engine::command::*;
use rand::Rng;

use super::steps::*;
use super::{
    AUTHORIZATION_LIMIT, CLOCK_SLACK_MS, COUPON_DISCOUNT, COUPON_MIN_SPEND, COUPON_REWARD, COUPON_TTL_MS, CURRENCY,
    Halt, OBJECT_TTL_MS, SPLIT_MEMBERS, Worker, code_of,
};
use crate::channel::now_ms;
use crate::report::Code;

impl Worker {
    pub(super) fn transfer(&mut self) -> Command {
        let (from, to) = self.shared.picker.pick_pair(&mut self.rng);
        let id = self.next_id("t");
        Command::Transfer(Transfer {
            id,
            from: self.shared.ids.account(from),
            to: self.shared.ids.account(to),
            amount: self.amount(1, 1_000),
            currency: CURRENCY,
        })
    }

    pub(super) async fn transfers(&mut self) -> Result<(), Halt> {
        if self.shared.batch <= 1 {
            let transfer = self.transfer();
            return self.step(TRANSFER, transfer).await.map(drop);
        }
        let slot = self.slot(self.shared.batch).await?;
        let transfers: Vec<Command> = (0..slot.commands).map(|_| self.transfer()).collect();
        let count = transfers.len();
        let answers = self.channel.execute_batch(transfers).await;
        let results: Vec<Code> = match &answers {
            Ok(answers) => answers.iter().map(code_of).collect(),
            Err(failure) => vec![failure.code.clone(); count],
        };
        self.record(TRANSFER_BATCH, &slot, Instant::now(), &results);
        match answers {
            Ok(answers) if answers.iter().all(Result::is_ok) => Ok(()),
            Ok(_) => Err(Halt::Refused),
            Err(failure) => self.verdict(Err(failure)).await.map(drop),
        }
    }

    /// The user's phone asks for a secure code for their account.
    pub(super) async fn authorize(&mut self, step: &'static str, user: usize) -> Result<String, Halt> {
        let authorize = Authorize {
            id: self.next_id("z"),
            user: self.shared.ids.user(user),
            account: self.shared.ids.account(user),
            limit: AUTHORIZATION_LIMIT,
            expires_at_ms: now_ms() + OBJECT_TTL_MS,
            nonce: self.rng.random(),
        };
        match self.step(step, Command::Authorize(authorize)).await? {
            Reply::Authorized { code, .. } => Ok(code),
            _ => Err(Halt::Refused),
        }
    }

    pub(super) fn settlement(&mut self, user: usize, code: String, amount: u64) -> SettlePos {
        SettlePos {
            id: self.next_settlement(),
            user: self.shared.ids.user(user),
            code,
            amount,
            currency: CURRENCY,
            terminal: self.terminal.clone(),
            coupon: None,
            hold_until_ms: None,
            location: None,
        }
    }

    /// POS: authorize, then settle a purchase with the secure code.
    pub(super) async fn pos(&mut self) -> Result<(), Halt> {
        let user = self.pick();
        let code = self.authorize(POS_AUTHORIZE, user).await?;
        let amount = self.amount(1, 1_000);
        let settle = self.settlement(user, code, amount);
        let step = if self.shared.iso { POS_SETTLE_0200 } else { POS_SETTLE };
        self.step(step, Command::SettlePos(settle)).await.map(drop)
    }

    /// Holds: place one, then capture part of it or void it.
    pub(super) async fn holds(&mut self) -> Result<(), Halt> {
        let (from, to) = self.shared.picker.pick_pair(&mut self.rng);
        let hold = self.next_id("h");
        let amount = self.amount(100, 1_000);
        let place = PlaceHold {
            id: hold.clone(),
            from: self.shared.ids.account(from),
            to: self.shared.ids.account(to),
            amount,
            currency: CURRENCY,
            expires_at_ms: now_ms() + OBJECT_TTL_MS,
        };
        self.step(HOLDS_PLACE, Command::PlaceHold(place)).await?;
        if self.rng.random_bool(0.5) {
            let capture = CaptureHold { hold, amount: self.amount(1, amount) };
            self.step(HOLDS_CAPTURE, Command::CaptureHold(capture)).await.map(drop)
        } else {
            self.step(HOLDS_VOID, Command::VoidHold { hold }).await.map(drop)
        }
    }

    /// Holds on the `iso8583` target: a secure code, an ISO 8583 0100 authorization hold, then
    /// a partial capture over HTTP or an ISO 8583 0400 reversal (which voids the hold).
    pub(super) async fn iso_holds(&mut self) -> Result<(), Halt> {
        let user = self.pick();
        let code = self.authorize(HOLDS_AUTHORIZE, user).await?;
        let amount = self.amount(100, 1_000);
        let mut hold = self.settlement(user, code, amount);
        hold.hold_until_ms = Some(now_ms() + OBJECT_TTL_MS);
        let id = hold.id.clone();
        self.step(HOLDS_HOLD_0100, Command::SettlePos(hold)).await?;
        if self.rng.random_bool(0.5) {
            let capture = CaptureHold { hold: id, amount: self.amount(1, amount) };
            self.step(HOLDS_CAPTURE, Command::CaptureHold(capture)).await.map(drop)
        } else {
            self.step(HOLDS_REVERSE_0400, Command::ReversePos { settlement: id }).await.map(drop)
        }
    }

    /// Bills: open, add items at the terminal, submit, confirm with the challenge.
    pub(super) async fn bills(&mut self) -> Result<(), Halt> {
        let user = self.pick();
        let bill = self.next_id("b");
        let now = now_ms();
        let open = OpenBill {
            bill: bill.clone(),
            user: self.shared.ids.user(user),
            account: self.shared.ids.account(user),
            merchant: self.shared.ids.merchant(),
            opens_at_ms: now.saturating_sub(CLOCK_SLACK_MS),
            closes_at_ms: now + OBJECT_TTL_MS,
        };
        self.step(BILLS_OPEN, Command::OpenBill(open)).await?;
        for _ in 0..self.amount(1, 3) {
            let item = kassa_engine::command::AddBillItem {
                bill: bill.clone(),
                terminal: self.terminal.clone(),
                item_ref: format!("sku-{}", self.amount(1, 999)),
                quantity: u32::try_from(self.amount(1, 3)).expect("small"),
                unit_amount: self.amount(1, 500),
            };
            self.step(BILLS_ADD_ITEM, Command::AddBillItem(item)).await?;
        }
        let submit = SubmitBill { bill: bill.clone(), nonce: self.rng.random() };
        let Reply::BillSubmitted { challenge, .. } = self.step(BILLS_SUBMIT, Command::SubmitBill(submit)).await? else {
            return Err(Halt::Refused);
        };
        let confirm = ConfirmBill { bill, challenge, coupon: None, location: None };
        self.step(BILLS_CONFIRM, Command::ConfirmBill(confirm)).await.map(drop)
    }

    /// Up to `count` distinct accounts other than `except` (skewed like every pick).
    pub(super) fn others(&mut self, except: usize, count: usize) -> Vec<usize> {
        let count = count.min(self.shared.accounts - 1);
        let mut chosen: Vec<usize> = Vec::with_capacity(count);
        for _ in 0..count * 20 {
            if chosen.len() == count {
                break;
            }
            let pick = self.pick();
            if pick != except && !chosen.contains(&pick) {
                chosen.push(pick);
            }
        }
        // A very hot skew may keep drawing the same few: fill up with neighbours.
        let mut next = except;
        while chosen.len() < count {
            next = (next + 1) % self.shared.accounts;
            if next != except && !chosen.contains(&next) {
                chosen.push(next);
            }
        }
        chosen
    }

    /// Splits: a request to a group, every member pays; a failed payment cancels the split
    /// (paid shares are refunded).
    pub(super) async fn splits(&mut self) -> Result<(), Halt> {
        let requester = self.pick();
        let members = self.others(requester, SPLIT_MEMBERS);
        let split = self.next_id("p");
        let total = members.len() as u64 * self.amount(1, 300);
        let request = RequestSplit {
            split: split.clone(),
            requester: self.shared.ids.user(requester),
            requester_account: self.shared.ids.account(requester),
            total,
            currency: CURRENCY,
            members: members
                .iter()
                .map(|member| SplitMember {
                    user: self.shared.ids.user(*member),
                    account: self.shared.ids.account(*member),
                })
                .collect(),
            shares: SplitShares::Equal,
            expires_at_ms: now_ms() + OBJECT_TTL_MS,
        };
        self.step(SPLITS_REQUEST, Command::RequestSplit(request)).await?;
        let mut halt = Halt::Refused;
        for member in members {
            let pay = PaySplitShare { split: split.clone(), member: self.shared.ids.user(member) };
            match self.step(SPLITS_PAY, Command::PaySplitShare(pay)).await {
                Ok(Reply::SharePaid { completed: true, .. }) => return Ok(()),
                Ok(_) => {}
                Err(stop) => {
                    halt = stop;
                    break;
                }
            }
        }
        if halt == Halt::Refused {
            // A member could not pay (or the split never completed): the requester cancels it.
            let cancel = self.step(SPLITS_CANCEL, Command::CancelSplit { split: split.clone() }).await;
            if cancel.is_ok() {
                return Err(Halt::Refused);
            }
            halt = cancel.err().unwrap_or(Halt::Refused);
        }
        // Paid shares may still sit in escrow: the conservation check counts them.
        self.shared.open_splits.lock().unwrap_or_else(PoisonError::into_inner).push(split);
        Err(halt)
    }

    /// Coupons: the merchant issues one, the holder shares it into their pool, a contact claims
    /// it, and it is redeemed with a payment: by the POS (settlement with the coupon) or by the
    /// merchant's operator (redeem, then the claimer pays what is left), alternately at random.
    pub(super) async fn coupons(&mut self) -> Result<(), Halt> {
        let holder = self.pick();
        // Setup made every account's user a contact of the next one's.
        let claimer = (holder + 1) % self.shared.accounts;
        let coupon = self.next_id("c");
        let now = now_ms();
        let fixed = |amount| DeductionRule { kind: DeductionKind::FixedOff { amount }, min_spend: COUPON_MIN_SPEND };
        let issue = IssueCoupon {
            coupon: coupon.clone(),
            merchant: self.shared.ids.merchant(),
            holder: self.shared.ids.user(holder),
            currency: CURRENCY,
            rule: fixed(COUPON_DISCOUNT),
            adjustments: Vec::new(),
            valid_from_ms: now.saturating_sub(CLOCK_SLACK_MS),
            valid_until_ms: now + COUPON_TTL_MS,
            reward: Some(fixed(COUPON_REWARD)),
            nonce: self.rng.random(),
        };
        let Reply::CouponIssued { .. } = self.step(COUPONS_ISSUE, Command::IssueCoupon(issue)).await? else {
            return Err(Halt::Refused);
        };
        let share = ShareCoupon { coupon: coupon.clone(), user: self.shared.ids.user(holder) };
        self.step(COUPONS_SHARE, Command::ShareCoupon(share)).await?;
        let claim =
            ClaimCoupon { coupon: coupon.clone(), claimer: self.shared.ids.user(claimer), nonce: self.rng.random() };
        // The claimer gets a code of its own (the sharer's stops working).
        let Reply::CouponClaimed { code } = self.step(COUPONS_CLAIM, Command::ClaimCoupon(claim)).await? else {
            return Err(Halt::Refused);
        };
        let amount = self.amount(COUPON_MIN_SPEND, 1_000);
        if self.rng.random_bool(0.5) {
            let secure_code = self.authorize(COUPONS_AUTHORIZE, claimer).await?;
            let mut settle = self.settlement(claimer, secure_code, amount);
            settle.coupon = Some(coupon);
            self.step(COUPONS_SETTLE, Command::SettlePos(settle)).await.map(drop)
        } else {
            let redeem = RedeemCoupon {
                id: self.next_id("r"),
                operator: self.shared.ids.operator(),
                code,
                amount,
                location: None,
            };
            let Reply::CouponRedeemed { payable, .. } =
                self.step(COUPONS_REDEEM, Command::RedeemCoupon(redeem)).await?
            else {
                return Err(Halt::Refused);
            };
            if payable == 0 {
                return Ok(());
            }
            let pay = Transfer {
                id: self.next_id("t"),
                from: self.shared.ids.account(claimer),
                to: self.shared.ids.merchant_account(),
                amount: payable,
                currency: CURRENCY,
            };
            self.step(COUPONS_PAY, Command::Transfer(pay)).await.map(drop)
        }
    }
}
