//! Who sends each command: mostly the admin (every flow stays exercised), otherwise a principal
//! drawn at random, half the time the one the model says owns what the command touches (so that
//! tenants' commands apply) and half the time anyone (so that they are refused). One in twenty
//! carries metadata.

use kassa_engine::Id;
use kassa_engine::command::{Command, Principal, Submission};
use kassa_engine::metadata::Metadata;
use rand::Rng;

use super::{Generator, id};
use crate::model::Model;

/// Apps the simulation's tenants are.
const APPS: [&str; 2] = ["app-1", "app-2"];

impl Generator {
    /// `commands`, each with the principal that sends it.
    pub(super) fn sign(&mut self, model: &Model, commands: Vec<Command>) -> Vec<Submission> {
        commands
            .into_iter()
            .map(|command| {
                let principal = match self.rng.random_range(0..100) {
                    _ if matches!(command, Command::Tick) => Principal::Admin,
                    0..75 => Principal::Admin,
                    75..90 => self.natural_principal(model, &command),
                    _ => self.any_principal(),
                };
                let submission = Submission::new(principal, command);
                // Now and then metadata: applied where the command creates what may carry it,
                // refused `metadata_not_supported` elsewhere (the model decides which).
                if self.rng.random_range(0..100) < 5 {
                    let order = format!("order-{}", self.rng.random_range(0..1_000u32));
                    submission.with_metadata(Metadata::new([("order_id".to_owned(), order)]).expect("valid"))
                } else {
                    submission
                }
            })
            .collect()
    }

    fn any_principal(&mut self) -> Principal {
        match self.rng.random_range(0..5) {
            0 | 1 => Principal::App(id(APPS[self.rng.random_range(0..APPS.len())])),
            2 => self.pick(&self.merchants.clone()).map_or(Principal::Admin, Principal::Merchant),
            3 => self.pick(&self.operators.clone()).map_or(Principal::Admin, Principal::Operator),
            _ => self.pick(&self.terminals.clone()).map_or(Principal::Admin, Principal::Terminal),
        }
    }

    /// The principal the model would let do this, where there is one.
    fn natural_principal(&mut self, model: &Model, command: &Command) -> Principal {
        let account_owner = |account: &Id| model.owners.accounts.get(account).cloned();
        let user_app = |generator: &mut Generator, user: &Id| {
            model
                .owners
                .users
                .get(user)
                .cloned()
                .unwrap_or_else(|| Principal::App(id(APPS[generator.rng.random_range(0..APPS.len())])))
        };
        let terminal_merchant =
            |terminal: &Id| model.terminals.get(terminal).map(|(m, ..)| Principal::Merchant(m.clone()));
        let found = match command {
            Command::OpenAccount(_) => Some(Principal::App(id(APPS[self.rng.random_range(0..APPS.len())]))),
            Command::CloseAccount { account } => account_owner(account),
            Command::Withdraw(movement) => account_owner(&movement.account),
            Command::Transfer(transfer) => account_owner(&transfer.from),
            Command::TransferBatch(batch) => batch.transfers.first().and_then(|t| account_owner(&t.from)),
            Command::PlaceHold(place) => account_owner(&place.from),
            Command::CaptureHold(capture) => model.owners.holds.get(&capture.hold).cloned(),
            Command::VoidHold { hold } => model.owners.holds.get(hold).cloned(),
            Command::RegisterMerchant(register) => Some(Principal::Merchant(register.merchant.clone())),
            Command::RegisterTerminal(register) => Some(Principal::Merchant(register.merchant.clone())),
            Command::RegisterOperator(register) => Some(Principal::Merchant(register.merchant.clone())),
            Command::Authorize(a) => Some(user_app(self, &a.user)),
            Command::OpenBill(open) => Some(user_app(self, &open.user)),
            Command::RequestSplit(r) => Some(user_app(self, &r.requester)),
            Command::PaySplitShare(pay) => Some(user_app(self, &pay.member)),
            Command::AddContact(add) => Some(user_app(self, &add.user)),
            Command::ShareCoupon(share) => Some(user_app(self, &share.user)),
            Command::ClaimCoupon(claim) => Some(user_app(self, &claim.claimer)),
            Command::SettlePos(settle) if self.pm(500) => Some(Principal::Terminal(settle.terminal.clone())),
            Command::SettlePos(settle) => terminal_merchant(&settle.terminal),
            Command::ReversePos { settlement } => {
                model.settlements.get(settlement).map(|s| Principal::Terminal(s.request.terminal.clone()))
            }
            Command::RefundPos(refund) if self.pm(500) => {
                model.settlements.get(&refund.of).map(|s| Principal::Terminal(s.request.terminal.clone()))
            }
            Command::RefundPos(refund) => model
                .settlements
                .get(&refund.of)
                .and_then(|s| model.terminals.get(&s.request.terminal))
                .map(|(merchant, ..)| Principal::Merchant(merchant.clone())),
            Command::RefundSplit { split } => model.owners.splits.get(split).cloned(),
            Command::RefundBill(refund) => {
                model.bills.get(&refund.of).map(|bill| Principal::Merchant(bill.merchant.clone()))
            }
            Command::AddBillItem(add) => Some(Principal::Terminal(add.terminal.clone())),
            Command::SubmitBill(submit) => model.owners.bills.get(&submit.bill).cloned(),
            Command::ConfirmBill(confirm) => model.owners.bills.get(&confirm.bill).cloned(),
            Command::CancelBill { bill } => model.owners.bills.get(bill).cloned(),
            Command::CancelSplit { split } => model.owners.splits.get(split).cloned(),
            Command::IssueCoupon(issue) => Some(Principal::Merchant(issue.merchant.clone())),
            Command::RedeemCoupon(redeem) => Some(Principal::Operator(redeem.operator.clone())),
            Command::RevokeAuthorization { authorization } => model.owners.authorizations.get(authorization).cloned(),
            _ => None,
        };
        found.unwrap_or(Principal::Admin)
    }
}
