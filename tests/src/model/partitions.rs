//! What several partitions change, as a user of kassa sees it (ARCHITECTURE.md, "Runtime:
//! partitions"), written again from the documentation:
//!
//! - Accounts live on the partition their id hashes to; deposits, withdrawals and transfers are
//!   applied by the partition of the account they debit; a hold lives with its payer, and the
//!   commands naming it (a repeated placement, a capture, a void) are applied there (an unknown
//!   hold: where a sale of its id lives, else by the home partition); a split lives with its
//!   requester (its user's partition), an authorization and a sale (with the hold it places)
//!   with their user, and the commands naming them are applied there (an unknown one: by the
//!   home partition); everything else by the home partition. A sale's coupon stays on the home
//!   partition, priced and redeemed as on one partition. A user's claim is decided on the user's partition
//!   and asked there by an app's command applied elsewhere, which the partition then knows;
//!   the home partition learns every claim before the command that made it is answered.
//! - A partition knows only its own objects: the owner of an account is known where the account
//!   lives, so a tenant naming an account of another partition in a command applied elsewhere
//!   is `forbidden` (the authority check comes first), the admin `cross_partition`. Merchants,
//!   terminals and operators are known everywhere: a merchant owns its registered account on
//!   every partition.
//! - A merchant's account may live anywhere: its registration checks it where it lives (its
//!   owner for a merchant registering itself), then decides as one partition would; a sale
//!   placing a hold checks it first too and decides as one partition would; a sale without a
//!   hold, a bill's charge and a reversal or refund check the payer and the merchant's account
//!   where each lives, the paying side first. A leg
//!   of a linked `TransferBatch` whose payer lives off the batch's partition is decided in the
//!   batch's order with its payer as it was before the batch (less what earlier such legs of the
//!   batch took from it), and its money moves after the batch (later legs do not see it); a
//!   tenant's batch checks each such payer's owner first; an independent batch's such leg is applied on its payer's partition
//!   after the batch's legs there, in leg order with the payees elsewhere deciding, and its own
//!   payee elsewhere decides after those (a tenant's batch checks each such payer's owner
//!   first). A
//!   completed split's refund naming an account elsewhere decides its member accounts first, in
//!   order (closed, ceiling), then the requester's (closed, funds). An independent leg
//!   whose payee lives elsewhere debits its payer at once and is decided on the payee's
//!   partition after the batch's other legs; a linked batch is decided as one partition would,
//!   each leg paying elsewhere checking its payer before its payee.
//! - A split's accounts may live anywhere: its request checks each where it lives (learning its
//!   owner, which a member's payment's rule then reads), then decides as one partition would; a share is checked on its member's partition (missing, closed,
//!   currency, funds) before the requester's account (missing, closed, currency, ceiling); a
//!   member account with a share in escrow may not close, wherever it lives.
//! - An authorization's account may live anywhere: the user's partition asks its partition first
//!   (owner, currency, closed), then decides as one partition would. A POS sale whose payer
//!   lives elsewhere checks the payer (missing, closed, currency, funds) before the merchant's
//!   account; a sale placing a hold decides as one partition would, and its hold lives with it
//!   on its user's partition (its funds held where the payer lives); a reversal or
//!   refund paying such a payer back checks the merchant's account (closed, funds) before the
//!   payer's (closed, ceiling).
//! - A bill lives with its user; its account may live anywhere: its opening asks that partition
//!   first, as an authorization does; its charge checks the account (missing, closed, currency,
//!   funds) before the merchant's account; a refund pays it back as a POS refund does. A coupon
//!   a crossing payment uses is redeemed with it, as on one partition.
//! - A transfer between partitions checks the payer (missing, closed, currency, funds) before
//!   the payee (missing, closed, currency, ceiling), which answers on its own partition.
//! - Transfer and movement ids are remembered by the partition that applied them.
//! - A batch is routed whole before any of it applies: a creation enters its object's id where
//!   it goes (a sale placing a hold, the hold's too), and the commands behind it that name the
//!   id go there even when the creation is refused.

use kassa_engine::Id;
use kassa_engine::command::{CaptureHold, Command, Principal, Rejection, Submission};
use kassa_engine::partition::{DirectoryKind, HOME_PARTITION, PartitionId, Route};

use super::Model;

impl Model {
    /// The partition that applies `command`: a hold's is its payer's, a split's its
    /// requester's.
    pub fn route(&self, command: &Command) -> PartitionId {
        match self.placement.route(command) {
            Route::Partition(partition) => partition,
            Route::Object(kind, id, new_on) => match (self.object_partition(kind, id), self.entered(kind, id)) {
                (Some(partition), _) | (None, Some(partition)) => partition,
                // No hold: a follow-up goes where a sale of its id is, if one is.
                (None, None) if kind == DirectoryKind::Hold && new_on.is_none() => {
                    let sale = self.object_partition(DirectoryKind::Settlement, id);
                    sale.or_else(|| self.entered(DirectoryKind::Settlement, id)).unwrap_or(HOME_PARTITION)
                }
                (None, None) => new_on.unwrap_or(HOME_PARTITION),
            },
        }
    }

    /// Where object `id` of `kind` lives, if it exists.
    fn object_partition(&self, kind: DirectoryKind, id: &Id) -> Option<PartitionId> {
        match kind {
            DirectoryKind::Hold => match self.holds.get(id) {
                Some(_) if self.pos_hold(id) => Some(self.sale_partition(id)),
                Some(hold) => Some(self.placement.of_account(&hold.from)),
                None => None,
            },
            DirectoryKind::Authorization => {
                self.authorizations.get(id).map(|found| self.placement.of_user(&found.user))
            }
            DirectoryKind::Settlement => self.settlements.contains_key(id).then(|| self.sale_partition(id)),
            DirectoryKind::Bill => self.bills.get(id).map(|bill| self.placement.of_user(&bill.user)),
            DirectoryKind::Split => self.splits.get(id).map(|split| self.placement.of_user(&split.requester)),
        }
    }

    /// Where this batch's routing placed object `id` of `kind`, which does not exist (yet).
    fn entered(&self, kind: DirectoryKind, id: &Id) -> Option<PartitionId> {
        self.batch_entries.get(&(kind, id.clone())).copied()
    }

    /// Routes a whole batch before any of it applies, as the engine does: a creation enters
    /// its object's id where it goes (a sale placing a hold, the hold's too), so the commands
    /// behind it in the batch that name that id go there, even when the creation is then
    /// refused (a concurrent placement of a hold of a sale's id, say, is then `cross_partition`
    /// there). [`Model::apply`] takes the batch's routes in order.
    pub fn begin_batch(&mut self, batch: &[Submission]) {
        self.batch_entries.clear();
        self.batch_routes.clear();
        for submission in batch {
            let partition = self.route(&submission.command);
            if let Route::Object(kind, id, new_on) = self.placement.route(&submission.command) {
                let named = self.object_partition(kind, id).is_some() || self.entered(kind, id).is_some();
                if let (false, Some(new_on)) = (named, new_on) {
                    self.batch_entries.insert((kind, id.clone()), new_on);
                }
                let hold_named = self.object_partition(DirectoryKind::Hold, id).is_some()
                    || self.entered(DirectoryKind::Hold, id).is_some();
                if let Command::SettlePos(settle) = &submission.command
                    && settle.hold_until_ms.is_some()
                    && !hold_named
                {
                    self.batch_entries.insert((DirectoryKind::Hold, id.clone()), partition);
                }
            }
            self.batch_routes.push_back((submission.command.clone(), partition));
        }
    }

    /// The partition of `command`: where [`Model::begin_batch`] routed it, if it is the next
    /// command of the batch; otherwise (a command applied outside a batch) routed alone.
    pub(super) fn batch_route(&mut self, command: &Command) -> PartitionId {
        match self.batch_routes.pop_front() {
            Some((routed, partition)) if routed == *command => partition,
            _ => {
                self.batch_routes.clear();
                self.route(command)
            }
        }
    }

    /// The partition settlement `id` (and the hold it placed) lives on: its user's.
    fn sale_partition(&self, id: &Id) -> PartitionId {
        self.settlements.get(id).map_or(HOME_PARTITION, |sale| self.placement.of_user(&sale.request.user))
    }

    /// The partition bill `id` lives on: its user's.
    fn bill_partition(&self, id: &Id) -> PartitionId {
        self.bills.get(id).map_or(HOME_PARTITION, |bill| self.placement.of_user(&bill.user))
    }

    /// The partition a split lives on: its requester's.
    fn split_partition(&self, split: &super::Split) -> PartitionId {
        self.placement.of_user(&split.requester)
    }

    /// Whether `submission` is a command whose account may live off the partition applying it:
    /// an authorization or a bill's opening naming an account elsewhere, any sale (which
    /// authorization its code finds is known only when it applies, and its coupon lives on the
    /// home partition), a reversal or refund of a settlement whose payer lives elsewhere or is
    /// not known yet, a bill's confirmation or refund whose account lives off the home
    /// partition or is not known yet; or an app's command for a user whose claim lives
    /// elsewhere and is not known there yet (asked there first).
    pub fn crosses_partitions(&self, submission: &Submission) -> bool {
        if self.placement.count() == 1 {
            return false;
        }
        let command = &submission.command;
        let applying = self.route(command);
        // The home partition learns every claim (`ClaimNoted`); another, those its own
        // commands made or asked.
        let known = |user: &Id| match applying {
            HOME_PARTITION => self.owners.users.contains_key(user),
            _ => self.claims_known.contains(&(applying, user.clone())),
        };
        let asks_claim = matches!(submission.principal, Principal::App(_))
            && kassa_engine::authority::acting_user(command)
                .is_some_and(|user| self.placement.of_user(user) != applying && !known(user));
        if asks_claim {
            return true;
        }
        let remote = |id: &Id| self.placement.of_account(id) != HOME_PARTITION;
        // A settlement's accounts are remote from its partition (its user's).
        let settlement = |id: &Id| {
            let on = self.sale_partition(id);
            let apart = |id: &Id| self.placement.of_account(id) != on;
            self.settlements.get(id).is_none_or(|s| {
                s.effect.as_ref().is_none_or(|effect| apart(&effect.account) || apart(&effect.merchant_account))
            })
        };
        // A bill's accounts are remote from its partition (its user's); its coupon lives on
        // the home partition.
        let merchant_apart = |merchant: &Id, on: PartitionId| {
            self.merchants.get(merchant).is_none_or(|account| self.placement.of_account(account) != on)
        };
        let bill = |id: &Id, coupon: bool| {
            let on = self.bill_partition(id);
            self.bills.get(id).is_none_or(|bill| {
                self.placement.of_account(&bill.account) != on
                    || merchant_apart(&bill.merchant, on)
                    || (coupon && on != HOME_PARTITION)
            })
        };
        // A split's accounts are remote from the split's partition (its requester's).
        let split_accounts = |split: &super::Split| {
            let on = self.split_partition(split);
            let apart = |id: &Id| self.placement.of_account(id) != on;
            apart(&split.requester_account) || split.members.iter().any(|member| apart(&member.account))
        };
        let split = |id: &Id| self.splits.get(id).is_none_or(split_accounts);
        match command {
            Command::Authorize(authorize) => self.placement.of_account(&authorize.account) != applying,
            Command::SettlePos(_) => true,
            // A POS hold whose payer lives elsewhere is captured or voided by a move there (a
            // hold not known yet may be one).
            Command::CaptureHold(CaptureHold { hold: id, .. }) | Command::VoidHold { hold: id } => {
                let apart = |id: &Id| self.placement.of_account(id) != applying;
                self.holds.get(id).is_none_or(|hold| self.pos_hold(id) && (apart(&hold.from) || apart(&hold.to)))
            }
            // Its account is checked where it lives; every partition then learns the merchant
            // (the reference stream) before the next wave.
            Command::RegisterMerchant(register) => remote(&register.account),
            Command::ReversePos { settlement: id } => settlement(id),
            Command::RefundPos(refund) => settlement(&refund.of),
            Command::OpenBill(open) => {
                self.placement.of_account(&open.account) != applying || merchant_apart(&open.merchant, applying)
            }
            Command::ConfirmBill(confirm) => bill(&confirm.bill, confirm.coupon.is_some()),
            Command::RefundBill(refund) => bill(&refund.of, false),
            Command::RequestSplit(request) => {
                let apart = |id: &Id| self.placement.of_account(id) != applying;
                apart(&request.requester_account) || request.members.iter().any(|member| apart(&member.account))
            }
            Command::PaySplitShare(pay) => split(&pay.split),
            Command::CancelSplit { split: id } | Command::RefundSplit { split: id } => split(id),
            // A tick may expire a split and give shares back across partitions.
            Command::Tick => {
                self.splits.values().filter(|split| split.status == super::SplitStatus::Open).any(split_accounts)
            }
            _ => false,
        }
    }

    /// Whether hold `id` is a POS sale's pre-authorization (it lives with its sale).
    pub(super) fn pos_hold(&self, id: &Id) -> bool {
        self.settlements.get(id).and_then(|sale| sale.effect.as_ref()).is_some_and(|effect| effect.held)
    }

    /// Whether `command` (already applied to the model) crossed partitions, as the simulation
    /// counts it: a transfer or hold whose parties live on two partitions, a POS or bill command
    /// whose payer lives off its user's partition, a split command naming an account off its
    /// requester's.
    /// `Some(true)`: a payment of these with a coupon.
    pub fn crossed(&self, command: &Command) -> Option<bool> {
        let apart = |from: &Id, to: &Id| self.placement.of_account(from) != self.placement.of_account(to);
        let sale_payer_apart = |id: &Id| {
            let on = self.sale_partition(id);
            self.settlements
                .get(id)
                .and_then(|s| s.effect.as_ref())
                .is_some_and(|e| self.placement.of_account(&e.account) != on)
        };
        let bill_payer_apart = |id: &Id| {
            let on = self.bill_partition(id);
            self.bills.get(id).is_some_and(|bill| self.placement.of_account(&bill.account) != on)
        };
        let split_remote = |id: &Id| {
            self.splits.get(id).is_some_and(|split| {
                let on = self.split_partition(split);
                let apart = |id: &Id| self.placement.of_account(id) != on;
                apart(&split.requester_account) || split.members.iter().any(|member| apart(&member.account))
            })
        };
        let crossed = match command {
            Command::Transfer(transfer) => apart(&transfer.from, &transfer.to),
            Command::TransferBatch(batch) => {
                let first = batch.transfers.first().map(|t| &t.from);
                batch
                    .transfers
                    .iter()
                    .any(|t| apart(&t.from, &t.to) || first.is_some_and(|first| apart(first, &t.from)))
            }
            Command::PlaceHold(place) => apart(&place.from, &place.to),
            Command::CaptureHold(capture) => {
                self.holds.get(&capture.hold).is_some_and(|hold| apart(&hold.from, &hold.to))
            }
            Command::VoidHold { hold } => self.pos_hold(hold) && sale_payer_apart(hold),
            Command::Authorize(authorize) => {
                self.placement.of_account(&authorize.account) != self.placement.of_user(&authorize.user)
            }
            Command::SettlePos(settle) => sale_payer_apart(&settle.id),
            Command::ReversePos { settlement } => sale_payer_apart(settlement),
            Command::RefundPos(refund) => sale_payer_apart(&refund.of),
            Command::OpenBill(open) => self.placement.of_account(&open.account) != self.placement.of_user(&open.user),
            Command::ConfirmBill(confirm) => bill_payer_apart(&confirm.bill),
            Command::RefundBill(refund) => bill_payer_apart(&refund.of),
            Command::RequestSplit(request) => split_remote(&request.split),
            Command::PaySplitShare(pay) => split_remote(&pay.split),
            Command::CancelSplit { split } | Command::RefundSplit { split } => split_remote(split),
            _ => false,
        };
        let coupon = match command {
            Command::SettlePos(settle) => settle.coupon.is_some(),
            Command::ConfirmBill(confirm) => confirm.coupon.is_some(),
            _ => false,
        };
        crossed.then_some(coupon)
    }

    /// The kind under which the simulation counts `command` (already applied to the model) as
    /// one whose merchant's account lives off the home partition: a registration, a sale (`/held`
    /// placing a hold), a POS hold's capture, a reversal or refund, a bill's opening, charge or
    /// refund.
    pub fn merchant_elsewhere(&self, command: &Command) -> Option<&'static str> {
        if self.placement.count() == 1 {
            return None;
        }
        let remote = |id: &Id| self.placement.of_account(id) != HOME_PARTITION;
        let of_sale = |id: &Id| {
            let on = self.sale_partition(id);
            let s = self.settlements.get(id).and_then(|s| s.effect.as_ref());
            s.is_some_and(|e| self.placement.of_account(&e.merchant_account) != on)
        };
        let merchant_apart = |merchant: &Id, on: PartitionId| {
            self.merchants.get(merchant).is_some_and(|account| self.placement.of_account(account) != on)
        };
        let of_bill =
            |id: &Id| self.bills.get(id).is_some_and(|bill| merchant_apart(&bill.merchant, self.bill_partition(id)));
        match command {
            Command::RegisterMerchant(register) => remote(&register.account).then_some("register_merchant"),
            Command::SettlePos(settle)
                if self.terminals.get(&settle.terminal).is_some_and(|(merchant, ..)| {
                    self.merchants.get(merchant).is_some_and(|account| {
                        self.placement.of_account(account) != self.placement.of_user(&settle.user)
                    })
                }) =>
            {
                Some(if settle.hold_until_ms.is_some() { "settle_pos/held" } else { "settle_pos" })
            }
            Command::CaptureHold(capture) => {
                (self.pos_hold(&capture.hold) && of_sale(&capture.hold)).then_some("capture_hold")
            }
            Command::ReversePos { settlement } => of_sale(settlement).then_some("reverse_pos"),
            Command::RefundPos(refund) => of_sale(&refund.of).then_some("refund_pos"),
            Command::OpenBill(open) => {
                merchant_apart(&open.merchant, self.placement.of_user(&open.user)).then_some("open_bill")
            }
            Command::ConfirmBill(confirm) => of_bill(&confirm.bill).then_some("confirm_bill"),
            Command::RefundBill(refund) => of_bill(&refund.of).then_some("refund_bill"),
            _ => None,
        }
    }

    /// Whether account `id` lives on the partition applying the current command.
    pub(super) fn local(&self, id: &Id) -> bool {
        self.placement.of_account(id) == self.partition
    }

    /// The partition applying the current command.
    pub(super) fn applying(&self) -> PartitionId {
        self.partition
    }

    /// Refuses a command of the home partition that names an account living elsewhere.
    pub(super) fn accounts_local(&self, command: &Command) -> Result<(), Rejection> {
        let local = |id: &Id| if self.local(id) { Ok(()) } else { Err(Rejection::CrossPartition) };
        match command {
            Command::PlaceHold(place) => local(&place.from),
            _ => Ok(()),
        }
    }
}
