//! Holds whose payee lives on another partition (the hold lives with its payer).
//!
//! ```text
//! payer's partition p                              payee's partition q
//!   place: check the payer; nothing changes    --Check n-->    is the payee usable in this
//!   (the placement is pending)                                 currency? who owns it?
//!   apply the placement again, knowing the    <--Checked n--   (changes nothing; answered
//!   payee's owners (or refuse it)                              every time it arrives)
//!
//!   capture c of amount a: payer -c posted,    --Credit n-->   credit the payee (or refuse)
//!   -c held (available unchanged); the hold
//!   is Capturing(c), the money in p's transit
//!   release a - c, Captured(c); or, refused,   <--Settled n--
//!   +c posted, +c held, the hold Active again
//! ```
//!
//! A refused placement or capture changes nothing (the capture's money comes back and the hold
//! reserves what it reserved before), as on one partition. A placement is decided again from
//! the start when its check is answered (the payer may have been closed or spent meanwhile),
//! but not its expiry, which was checked when it arrived. The payee's owners travel back with
//! the check and are kept in the hold: the authority rules read them where the payee side may
//! capture, void or read it (`authority.rs`, `HoldCreatorOrPayee`), as they stood when it was
//! placed.

use super::{Open, Transit};
use crate::command::{CaptureHold, Event, Outcome, PlaceHold, PostingCause, Principal, Rejection, Reply, Submission};
use crate::partition::{Check, CheckedAccount, Checking, Outgoing, Paying, TransitMessage};
use crate::state_machine::{HoldState, StateMachine};
use crate::types::{Id, TimestampMs};

impl Transit {
    /// The number of hold `id`'s check or capture in flight, if one is.
    pub(in crate::state_machine) fn hold_in_flight(&self, id: &Id) -> Option<u64> {
        self.by_hold.get(id).copied()
    }

    /// The holds whose placement waits for its payee's check.
    pub(in crate::state_machine) fn placing_ids(&self) -> impl Iterator<Item = &Id> {
        self.open.values().filter_map(|open| match &**open {
            Open::Check { check, .. } => check.subject.hold(),
            Open::Credit { .. }
            | Open::Move { .. }
            | Open::Reserve { .. }
            | Open::Claim { .. }
            | Open::Coupon { .. } => None,
        })
    }

    /// The sales placing a hold that wait for their merchant's account's check, and the
    /// authorizations whose creation waits for its account's.
    pub(in crate::state_machine) fn pos_checking(&self) -> impl Iterator<Item = &Id> {
        self.open.values().filter_map(|open| match &**open {
            Open::Check { check, .. } => match &check.subject {
                Checking::SaleMerchant(id) | Checking::Authorization(id) => Some(id),
                _ => None,
            },
            _ => None,
        })
    }

    /// The bills whose opening waits for their account's check, or whose money is in flight
    /// (those are in memory too).
    pub(in crate::state_machine) fn bills_opening(&self) -> impl Iterator<Item = &Id> {
        self.by_bill.keys()
    }

    /// Whether bill `id`'s opening waits for its account's check (or its money is in flight).
    pub(in crate::state_machine) fn opening_bill(&self, id: &Id) -> bool {
        self.by_bill.contains_key(id)
    }

    /// The splits whose request waits for one of its accounts' checks.
    pub(in crate::state_machine) fn splits_requesting(&self) -> impl Iterator<Item = &Id> {
        self.open.values().filter_map(|open| match &**open {
            Open::Check { check, .. } => match &check.subject {
                Checking::Split(id) => Some(id),
                _ => None,
            },
            Open::Credit { .. }
            | Open::Move { .. }
            | Open::Reserve { .. }
            | Open::Claim { .. }
            | Open::Coupon { .. } => None,
        })
    }

    /// The creation of the authorization or bill `subject` names waiting for its account's
    /// check, if one is.
    pub(in crate::state_machine) fn creating(&self, subject: &Checking) -> Option<(u64, &Submission)> {
        let number = match subject {
            Checking::Authorization(id) => self.by_authorization.get(id)?,
            Checking::Bill(id) => self.by_bill.get(id)?,
            Checking::Split(id) => self.by_split.get(id)?,
            Checking::SaleMerchant(id) => self.by_hold.get(id)?,
            // A batch has no id: two alike check alike, and apply as one partition applies them;
            // nor does a merchant's registration need one (it applies again alike).
            Checking::HoldPayee(_) | Checking::BatchPayer | Checking::Merchant(_) => return None,
        };
        match &**self.open.get(number)? {
            Open::Check { placement, .. } => Some((*number, &**placement)),
            Open::Credit { .. }
            | Open::Move { .. }
            | Open::Reserve { .. }
            | Open::Claim { .. }
            | Open::Coupon { .. } => None,
        }
    }

    /// Whether sale `id`, placing a hold, waits for its merchant's account's check.
    pub(in crate::state_machine) fn sale_checking(&self, id: &Id) -> bool {
        let open = self.hold_in_flight(id).and_then(|number| self.open.get(&number));
        let checking = |open: &Open| matches!(open, Open::Check { check, .. } if check.subject.hold() == Some(id));
        open.is_some_and(|open| checking(open))
    }

    /// The placement of hold `id` waiting for its payee's check, if one is.
    pub(in crate::state_machine) fn placing(&self, id: &Id) -> Option<(u64, &PlaceHold)> {
        let number = self.hold_in_flight(id)?;
        match &**self.open.get(&number)? {
            Open::Check { placement, .. } => match &placement.command {
                crate::command::Command::PlaceHold(place) => Some((number, place)),
                _ => None,
            },
            Open::Credit { .. }
            | Open::Move { .. }
            | Open::Reserve { .. }
            | Open::Claim { .. }
            | Open::Coupon { .. } => None,
        }
    }
}

impl StateMachine {
    /// The first step of a command naming an account that lives elsewhere (a placement's payee,
    /// an authorization's or a bill's account): send the check and leave the command pending (nothing else
    /// changes). It applies again, from the start, when the answer comes.
    pub(in crate::state_machine) fn check_account(
        &mut self,
        command: &Submission,
        subject: Checking,
        account: &Id,
        known: Vec<(Id, super::CheckedAnswer)>,
    ) -> Outcome {
        let currency = match (&subject, &command.command) {
            (Checking::HoldPayee(_), crate::command::Command::PlaceHold(place)) => Some(place.currency),
            _ => None,
        };
        let destination = self.config.placement.of_account(account);
        let transit = &mut self.state.transit;
        let number = transit.next_number();
        match &subject {
            Checking::HoldPayee(hold) | Checking::SaleMerchant(hold) => transit.by_hold.insert(hold.clone(), number),
            Checking::Authorization(id) => transit.by_authorization.insert(id.clone(), number),
            Checking::Bill(id) => transit.by_bill.insert(id.clone(), number),
            Checking::Split(id) => transit.by_split.insert(id.clone(), number),
            Checking::Merchant(id) => transit.by_merchant.insert(id.clone(), number),
            Checking::BatchPayer => None,
        };
        let check = Check { source: self.config.partition, number, subject, account: account.clone(), currency };
        let message = TransitMessage::Check(check.clone());
        let placement = Box::new(command.clone());
        transit.open.insert(number, Box::new(Open::Check { destination, check, placement, known }));
        self.outgoing.push(Outgoing { destination, message });
        self.pending = Some(number);
        Outcome::Applied(Reply::Done)
    }

    /// The account's step: is it usable, and who owns it? Changes nothing.
    pub(super) fn answer_check(&mut self, check: &Check) {
        let missing = match check.subject {
            Checking::HoldPayee(_) => Rejection::CounterpartyNotFound,
            Checking::Authorization(_)
            | Checking::Bill(_)
            | Checking::Split(_)
            | Checking::BatchPayer
            | Checking::Merchant(_)
            | Checking::SaleMerchant(_) => Rejection::AccountNotFound,
        };
        let account = self.state.accounts.get(&check.account).ok_or(missing);
        let answer = account.and_then(|account| {
            // A hold's payee must be usable in its currency; an authorization decides itself.
            if let Some(currency) = check.currency {
                account.usable(currency)?;
            }
            let owner = crate::authority::Facts::owner(self, crate::command::ObjectKind::Account, &check.account);
            // Sorted: the merchants map's order is random per process, and the answer is state.
            let mut merchants: Vec<&Id> = (self.state.merchants.iter())
                .filter(|(_, merchant)| merchant.account == check.account)
                .map(|(id, _)| id)
                .collect();
            merchants.sort_unstable();
            let merchants = merchants.into_iter().map(|id| Principal::Merchant(id.clone())).collect();
            Ok(CheckedAccount { owner: owner.cloned(), merchants, currency: account.currency, closed: account.closed })
        });
        let message = TransitMessage::Checked {
            payee_partition: self.config.partition,
            number: check.number,
            subject: check.subject.clone(),
            answer,
        };
        self.outgoing.push(Outgoing { destination: check.source, message });
    }

    /// The last step of a command that waited for an account's check: apply it again from the
    /// start, with the account known (or refuse it with the account's reason). The outcome
    /// completes the pending one.
    pub(super) fn apply_checked(
        &mut self,
        now: TimestampMs,
        number: u64,
        answer: &Result<CheckedAccount, Rejection>,
        output: &mut crate::state_machine::CommitOutput,
    ) {
        let transit = &mut self.state.transit;
        // Acted on only while that check is open (a repeat changes nothing).
        if !matches!(transit.open.get(&number).map(|entry| &**entry), Some(Open::Check { .. })) {
            return;
        }
        let Some(Open::Check { placement, check, known, .. }) = transit.open.remove(&number).map(|entry| *entry) else {
            unreachable!("checked above")
        };
        match &check.subject {
            Checking::HoldPayee(hold) | Checking::SaleMerchant(hold) => transit.by_hold.remove(hold),
            Checking::Authorization(id) => transit.by_authorization.remove(id),
            Checking::Bill(id) => transit.by_bill.remove(id),
            Checking::Split(id) => transit.by_split.remove(id),
            Checking::Merchant(id) => transit.by_merchant.remove(id),
            Checking::BatchPayer => None,
        };
        let outcome = match (answer, &check.subject) {
            (Err(rejection), Checking::HoldPayee(_)) => Outcome::Rejected(*rejection),
            // An authorization or a bill decides from the start, its account's refusal in its
            // turn.
            (answer, _) => {
                self.checked = known;
                self.checked.push((check.account.clone(), answer.clone()));
                let outcome = self.apply(now, &placement, &mut output.events);
                self.checked.clear();
                if let Some(next) = self.pending.take() {
                    // A split's next account is being checked (or its money is on its way).
                    self.state.transit.aliases.insert(next, number);
                    return;
                }
                outcome
            }
        };
        self.complete(number, outcome, output);
        // A merchant's terminals, operators, coupons and bills sent meanwhile apply now.
        self.release_waiting(now, number, output);
    }

    /// The payer's step of a capture whose payee lives elsewhere: debit the captured amount
    /// into transit (out of both posted and held: the rest stays reserved) and send the credit.
    /// The caller checked the hold's state, expiry and the amount.
    pub(in crate::state_machine) fn capture_elsewhere(
        &mut self,
        capture: &CaptureHold,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let hold = self.state.holds.get_mut(&capture.hold).expect("the caller found the hold");
        hold.state = HoldState::Capturing(capture.amount);
        let removed = self.state.hold_expiry.remove(&(hold.expires_at_ms, capture.hold.clone()));
        assert!(removed, "an active hold is in the expiry index");
        let (from, to, amount, currency) = (hold.from.clone(), hold.to.clone(), hold.amount, hold.currency);
        let captured = i64::try_from(capture.amount).expect("capture within hold");
        self.post(&from, -captured, -captured, PostingCause::HoldCaptured(capture.hold.clone()), events);
        let number = self.send_credit(&from, Paying::Capture(capture.hold.clone()), &to, capture.amount, currency);
        self.state.transit.by_hold.insert(capture.hold.clone(), number);
        Outcome::Applied(Reply::Captured { captured: capture.amount, released: amount - capture.amount })
    }

    /// The payer's last step of a capture: release the rest of the hold and resolve it, or,
    /// refused, take the money back into the hold, active again. (A POS hold whose payer lives
    /// elsewhere resolves alike; its payer's partition moved the money: `transit/pos_holds.rs`.)
    pub(super) fn capture_settled(&mut self, id: &Id, refused: Option<Rejection>, events: &mut Vec<Event>) -> Outcome {
        self.state.transit.by_hold.remove(id);
        let payer_here = self.lives_here(&self.state.holds[id].from);
        let hold = self.state.holds.get_mut(id).expect("a hold with a capture in flight stays in memory");
        let HoldState::Capturing(captured) = hold.state else { unreachable!("only a capturing hold has a credit") };
        let (from, amount, expires_at_ms) = (hold.from.clone(), hold.amount, hold.expires_at_ms);
        let cause = PostingCause::HoldCaptured(id.clone());
        match refused {
            None => {
                hold.state = HoldState::Captured(captured);
                let rest = i64::try_from(amount - captured).expect("amount within i64");
                if rest > 0 && payer_here {
                    self.post(&from, 0, -rest, cause, events);
                }
                self.resolved(crate::state_machine::ArchivedKind::Hold, id);
                Outcome::Applied(Reply::Captured { captured, released: amount - captured })
            }
            Some(rejection) => {
                hold.state = HoldState::Active;
                self.state.hold_expiry.insert((expires_at_ms, id.clone()));
                if payer_here {
                    let captured = i64::try_from(captured).expect("capture within i64");
                    self.post(&from, captured, captured, cause, events);
                }
                Outcome::Rejected(rejection)
            }
        }
    }
}

#[cfg(test)]
mod tests;
