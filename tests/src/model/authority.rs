//! The model's authority: who may do what, written independently of the engine's rule table
//! (`kassa_engine::authority::RULES`), as a payment engineer states the rules in prose
//! (docs/tenancy.md). The simulation compares the two on random principals.

use kassa_engine::Id;
use kassa_engine::command::{Command, ObjectKind, Principal, RegisterApiKey, Rejection};

use super::Model;

/// Object id -> its owner.
type Map = std::collections::BTreeMap<Id, Principal>;

/// What a principal owns, as the model records it: the creator of each object that is not the
/// admin's, and the app of each claimed user.
#[derive(Debug, Clone, Default)]
pub struct Owners {
    /// Account -> creator.
    pub accounts: Map,
    /// Hold -> creator.
    pub holds: Map,
    /// Authorization -> creator.
    pub authorizations: Map,
    /// Bill -> creator.
    pub bills: Map,
    /// Split -> creator.
    pub splits: Map,
    /// User -> app.
    pub users: Map,
}

fn app(principal: &Principal) -> bool {
    matches!(principal, Principal::App(_))
}

impl Model {
    /// An app or merchant owns an account it created: only the account's own partition knows
    /// (`partitions.rs`). A merchant also owns the account it is registered with, which every
    /// partition knows (merchants are reference data).
    fn owns_account(&self, who: &Principal, account: &Id) -> bool {
        (self.owners.accounts.get(account) == Some(who) && self.local(account))
            || matches!(who, Principal::Merchant(m) if self.merchants.get(m) == Some(account))
    }

    /// Owns `account` wherever it lives (an authorization's or a bill's account is checked on
    /// its own partition before the rule is decided).
    fn owns_account_anywhere(&self, who: &Principal, account: &Id) -> bool {
        self.owners.accounts.get(account) == Some(who)
            || matches!(who, Principal::Merchant(m) if self.merchants.get(m) == Some(account))
    }

    /// An app acts for its own users and for users nobody has claimed.
    fn acts_for(&self, who: &Principal, user: &Id) -> bool {
        app(who) && self.owners.users.get(user).is_none_or(|owner| owner == who)
    }

    /// The hold's creator, or the payee's owner: where the payee lives on another partition,
    /// who owned it when the hold was placed.
    fn payee_side(&self, who: &Principal, hold: &Id) -> bool {
        self.owners.holds.get(hold) == Some(who)
            || self.holds.get(hold).is_some_and(|h| self.owns_account(who, &h.to) || h.payee_owners.contains(who))
    }

    /// Everyone who owns `account` wherever it lives: its creator and the merchants registered
    /// with it.
    pub(super) fn owners_of(&self, account: &Id) -> Vec<Principal> {
        let creator = self.owners.accounts.get(account).cloned();
        let merchants = self.merchants.iter().filter(|(_, registered)| *registered == account);
        creator.into_iter().chain(merchants.map(|(merchant, _)| Principal::Merchant(merchant.clone()))).collect()
    }

    fn settled_at(&self, settlement: &Id) -> Option<&Id> {
        self.settlements.get(settlement).map(|settlement| &settlement.request.terminal)
    }

    /// The terminal whose POS hold `hold` is: of the sale approved with it; where no hold has
    /// that id, of the sale of that id (which then answers that there is no hold).
    fn held_at(&self, hold: &Id) -> Option<&Id> {
        let sale = self.settlements.get(hold)?;
        let held = sale.effect.as_ref().is_some_and(|effect| effect.held);
        (held || !self.holds.contains_key(hold)).then_some(&sale.request.terminal)
    }

    fn merchant_of_terminal(&self, terminal: &Id) -> Option<&Id> {
        self.terminals.get(terminal).map(|(merchant, ..)| merchant)
    }

    /// Whether `who` may submit `command` now (`Forbidden` if not), then the creation rule: an
    /// existing object that is not the caller's answers `already_exists`.
    pub(super) fn authority(&self, who: &Principal, command: &Command) -> Result<(), Rejection> {
        if *who == Principal::Admin {
            return Ok(());
        }
        let is_merchant = |m: &Id| *who == Principal::Merchant(m.clone());
        let is_terminal = |t: &Id| *who == Principal::Terminal(t.clone());
        let allowed = match command {
            Command::OpenAccount(open) => {
                open.overdraft_limit == 0 && (app(who) || matches!(who, Principal::Merchant(_)))
            }
            Command::CloseAccount { account } => self.owns_account(who, account),
            Command::Withdraw(movement) => self.owns_account(who, &movement.account),
            Command::Transfer(transfer) => self.owns_account(who, &transfer.from),
            // A batch checks each payer elsewhere on its partition first.
            Command::TransferBatch(batch) => {
                !batch.transfers.is_empty() && batch.transfers.iter().all(|t| self.owns_account_anywhere(who, &t.from))
            }
            Command::PlaceHold(place) => self.owns_account(who, &place.from),
            Command::CaptureHold(capture) => match who {
                Principal::Terminal(_) => self.held_at(&capture.hold).is_some_and(&is_terminal),
                _ => self.payee_side(who, &capture.hold),
            },
            Command::VoidHold { hold } => match who {
                Principal::Terminal(_) => self.held_at(hold).is_some_and(&is_terminal),
                _ => self.payee_side(who, hold),
            },
            // Its account is checked where it lives first.
            Command::RegisterMerchant(register) => {
                is_merchant(&register.merchant) && self.owns_account_anywhere(who, &register.account)
            }
            Command::RegisterTerminal(register) => is_merchant(&register.merchant),
            Command::RegisterOperator(register) => is_merchant(&register.merchant),
            Command::Authorize(a) => self.owns_account_anywhere(who, &a.account) && self.acts_for(who, &a.user),
            Command::SettlePos(settle) => {
                is_terminal(&settle.terminal) || self.merchant_of_terminal(&settle.terminal).is_some_and(is_merchant)
            }
            Command::ReversePos { settlement } => self.settled_at(settlement).is_some_and(|terminal| {
                is_terminal(terminal) || self.merchant_of_terminal(terminal).is_some_and(is_merchant)
            }),
            Command::RefundPos(refund) => self.settled_at(&refund.of).is_some_and(|terminal| {
                is_terminal(terminal) || self.merchant_of_terminal(terminal).is_some_and(is_merchant)
            }),
            Command::RefundBill(refund) => self.bills.get(&refund.of).is_some_and(|bill| is_merchant(&bill.merchant)),
            Command::OpenBill(open) => self.owns_account_anywhere(who, &open.account) && self.acts_for(who, &open.user),
            Command::AddBillItem(add) => {
                is_terminal(&add.terminal) || self.bills.get(&add.bill).is_some_and(|bill| is_merchant(&bill.merchant))
            }
            Command::SubmitBill(submit) => self.bill_side(who, &submit.bill, true),
            Command::ConfirmBill(confirm) => self.bill_side(who, &confirm.bill, false),
            Command::CancelBill { bill } => self.bill_side(who, bill, true),
            Command::RequestSplit(r) => {
                self.owns_account_anywhere(who, &r.requester_account) && self.acts_for(who, &r.requester)
            }
            Command::PaySplitShare(pay) => {
                self.acts_for(who, &pay.member)
                    && self.splits.get(&pay.split).is_some_and(|split| {
                        // Its request learned the member accounts' owners where they live.
                        split
                            .members
                            .iter()
                            .any(|m| m.user == pay.member && self.owns_account_anywhere(who, &m.account))
                    })
            }
            Command::CancelSplit { split } | Command::RefundSplit { split } => {
                self.owners.splits.get(split) == Some(who)
            }
            Command::AddContact(add) => self.acts_for(who, &add.user),
            Command::IssueCoupon(issue) => is_merchant(&issue.merchant),
            Command::ShareCoupon(share) => self.acts_for(who, &share.user),
            Command::ClaimCoupon(claim) => self.acts_for(who, &claim.claimer),
            Command::RedeemCoupon(redeem) => *who == Principal::Operator(redeem.operator.clone()),
            // The app that made the authorization (for its user) may revoke its code.
            Command::RevokeAuthorization { authorization } => {
                self.owners.authorizations.get(authorization) == Some(who)
            }
            Command::Deposit(_) | Command::RegisterApiKey(_) | Command::RevokeApiKey { .. } | Command::Tick => false,
        };
        if !allowed {
            return Err(Rejection::Forbidden);
        }
        let taken = |owners: &Map, exists: bool, id: &Id| exists && owners.get(id) != Some(who);
        let taken_by_another = match command {
            Command::OpenAccount(open) => {
                taken(&self.owners.accounts, self.accounts.contains_key(&open.account), &open.account)
            }
            Command::PlaceHold(place) => taken(&self.owners.holds, self.holds.contains_key(&place.id), &place.id),
            Command::Authorize(a) => taken(&self.owners.authorizations, self.authorizations.contains_key(&a.id), &a.id),
            Command::OpenBill(open) => taken(&self.owners.bills, self.bills.contains_key(&open.bill), &open.bill),
            Command::RequestSplit(r) => taken(&self.owners.splits, self.splits.contains_key(&r.split), &r.split),
            _ => false,
        };
        if taken_by_another { Err(Rejection::AlreadyExists) } else { Ok(()) }
    }

    /// A bill's app side is the app that opened it; its merchant side (when allowed) is the
    /// merchant it pays.
    fn bill_side(&self, who: &Principal, bill: &Id, merchant_too: bool) -> bool {
        let opened = self.owners.bills.get(bill) == Some(who);
        let merchant =
            merchant_too && self.bills.get(bill).is_some_and(|b| *who == Principal::Merchant(b.merchant.clone()));
        opened || merchant
    }

    /// After an applied command: its creator owns what it created, an app the users it acted for.
    pub(super) fn record_owners(&mut self, who: &Principal, command: &Command) {
        if *who == Principal::Admin {
            return;
        }
        let owners = &mut self.owners;
        let own = |map: &mut Map, id: &Id| {
            map.entry(id.clone()).or_insert_with(|| who.clone());
        };
        match command {
            Command::OpenAccount(open) => own(&mut owners.accounts, &open.account),
            Command::PlaceHold(place) => own(&mut owners.holds, &place.id),
            Command::Authorize(a) => own(&mut owners.authorizations, &a.id),
            Command::OpenBill(open) => own(&mut owners.bills, &open.bill),
            Command::RequestSplit(r) => own(&mut owners.splits, &r.split),
            _ => {}
        }
        if !app(who) {
            return;
        }
        let user = match command {
            Command::Authorize(a) => Some(&a.user),
            Command::OpenBill(open) => Some(&open.user),
            Command::RequestSplit(r) => Some(&r.requester),
            Command::PaySplitShare(pay) => Some(&pay.member),
            Command::AddContact(add) => Some(&add.user),
            Command::ShareCoupon(share) => Some(&share.user),
            Command::ClaimCoupon(claim) => Some(&claim.claimer),
            _ => None,
        };
        if let Some(user) = user {
            own(&mut owners.users, user);
            self.claims_known.insert((self.partition, user.clone()));
        }
    }

    /// Every owner record: (kind, id, owner).
    pub fn owner_records(&self) -> impl Iterator<Item = (ObjectKind, &Id, &Principal)> {
        fn of(kind: ObjectKind, map: &Map) -> impl Iterator<Item = (ObjectKind, &Id, &Principal)> {
            map.iter().map(move |(id, owner)| (kind, id, owner))
        }
        let o = &self.owners;
        of(ObjectKind::Account, &o.accounts)
            .chain(of(ObjectKind::Hold, &o.holds))
            .chain(of(ObjectKind::Authorization, &o.authorizations))
            .chain(of(ObjectKind::Bill, &o.bills))
            .chain(of(ObjectKind::Split, &o.splits))
            .chain(of(ObjectKind::User, &o.users))
    }

    /// Registers a key once; an operator's or terminal's key needs that operator or terminal.
    pub(super) fn register_api_key(&mut self, register: &RegisterApiKey) -> Result<(), Rejection> {
        let key = (register.role.clone(), register.secret_hash, false);
        if let Some(existing) = self.api_keys.get(&register.key_id) {
            return if *existing == key { Ok(()) } else { Err(Rejection::AlreadyExists) };
        }
        match &register.role {
            Principal::Operator(operator) if !self.operators.contains_key(operator) => {
                return Err(Rejection::OperatorNotFound);
            }
            Principal::Terminal(terminal) if !self.terminals.contains_key(terminal) => {
                return Err(Rejection::TerminalNotFound);
            }
            _ => {}
        }
        self.api_keys.insert(register.key_id.clone(), key);
        Ok(())
    }
}
