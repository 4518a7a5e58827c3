//! The visible state, as text keyed by object, built the same way from the model and from the
//! engine's read queries, so that the two can be compared entry by entry.

use std::collections::BTreeMap;
use std::fmt::Display;

use kassa_engine::command::ObjectKind;
use kassa_engine::state_machine::{AuthorizationState, BillState, CouponState, HoldState, SplitState};
use kassa_engine::{Currency, Id};

use super::{AuthStatus, BillStatus, CouponStatus, HoldStatus, Model, Refunded, SplitStatus};

/// `"kind:id"` -> description of the object's visible state.
pub type StateView = BTreeMap<String, String>;

/// Which objects to look at: ids taken from the model (the engine cannot be enumerated).
#[derive(Debug, Clone, Default)]
pub struct Probe {
    accounts: Vec<Id>,
    holds: Vec<Id>,
    authorizations: Vec<Id>,
    settlements: Vec<Id>,
    bills: Vec<Id>,
    splits: Vec<Id>,
    coupons: Vec<Id>,
    merchants: Vec<Id>,
    terminals: Vec<Id>,
    operators: Vec<Id>,
    users: Vec<Id>,
    api_keys: Vec<Id>,
    owners: Vec<(ObjectKind, Id)>,
}

fn account_line(currency: Currency, closed: bool, posted: i64, held: u64, available: i128, overdraft: u64) -> String {
    format!("{currency} closed={closed} posted={posted} held={held} available={available} overdraft={overdraft}")
}

fn list<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    items.into_iter().map(|item| item.to_string()).collect::<Vec<_>>().join(",")
}

impl Model {
    /// The ids to compare: accounts only, or every object the model knows.
    pub fn probe(&self, everything: bool) -> Probe {
        let keys = |map: &BTreeMap<Id, _>| -> Vec<Id> { map.keys().cloned().collect() };
        let mut view = Probe { accounts: self.accounts.keys().cloned().collect(), ..Probe::default() };
        if everything {
            view.holds = self.holds.keys().cloned().collect();
            view.authorizations = self.authorizations.keys().cloned().collect();
            view.settlements = self.settlements.keys().cloned().collect();
            view.bills = self.bills.keys().cloned().collect();
            view.splits = self.splits.keys().cloned().collect();
            view.coupons = self.coupons.keys().cloned().collect();
            view.merchants = keys(&self.merchants);
            view.terminals = self.terminals.keys().cloned().collect();
            view.operators = keys(&self.operators);
            let mut users: Vec<Id> = self.contacts.keys().chain(self.pools.keys()).cloned().collect();
            users.extend(self.coupons.values().map(|coupon| coupon.holder.clone()));
            users.sort();
            users.dedup();
            view.users = users;
            view.api_keys = self.api_keys.keys().cloned().collect();
            view.owners = self.owner_records().map(|(kind, id, _)| (kind, id.clone())).collect();
        }
        view
    }

    /// The model's side of `view`.
    pub fn view(&self, view: &Probe) -> StateView {
        let mut out = StateView::new();
        out.insert("accounts:count".into(), self.accounts.len().to_string());
        for (currency, totals) in &self.totals {
            out.insert(format!("totals:{currency}"), format!("in={} out={}", totals.deposited, totals.withdrawn));
        }
        for id in &view.accounts {
            let a = &self.accounts[id];
            let line = account_line(a.currency, a.closed, a.posted, a.held, a.available(), a.overdraft_limit);
            out.insert(format!("account:{id}"), line);
        }
        for id in &view.holds {
            let h = &self.holds[id];
            let status = match h.status {
                HoldStatus::Active => "active".to_string(),
                HoldStatus::Captured(amount) => format!("captured:{amount}"),
                HoldStatus::Voided => "voided".to_string(),
                HoldStatus::Expired => "expired".to_string(),
            };
            let line = format!("{}->{} {} {} until={} {status}", h.from, h.to, h.amount, h.currency, h.expires_at_ms);
            out.insert(format!("hold:{id}"), line);
        }
        for id in &view.authorizations {
            let a = &self.authorizations[id];
            let status = match &a.status {
                AuthStatus::Active => "active".to_string(),
                AuthStatus::Used(settlement) => format!("used:{settlement}"),
                AuthStatus::Expired => "expired".to_string(),
                AuthStatus::Revoked => "revoked".to_string(),
            };
            let line = format!(
                "{} {} {} {} until={} nonce={} {status}",
                a.user, a.account, a.limit, a.currency, a.expires_at_ms, a.nonce
            );
            out.insert(format!("authorization:{id}"), line);
        }
        for id in &view.settlements {
            let refunds = self.refund_lines(Refunded::Settlement, id);
            out.insert(format!("settlement:{id}"), format!("{:?}{refunds}", self.settlements[id].outcome));
        }
        for id in &view.bills {
            let b = &self.bills[id];
            let status = match &b.status {
                BillStatus::Open => "open".to_string(),
                BillStatus::Submitted { nonce, failures, .. } => format!("submitted nonce={nonce} failures={failures}"),
                BillStatus::Paid { charged, discount } => format!("paid {charged}-{discount}"),
                BillStatus::Cancelled => "cancelled".to_string(),
                BillStatus::Expired => "expired".to_string(),
            };
            let line = format!(
                "{} {} {} {} {}..{} items={} total={} {status}{}",
                b.user,
                b.account,
                b.merchant,
                b.currency,
                b.opens_at_ms,
                b.closes_at_ms,
                b.items,
                b.total,
                self.refund_lines(Refunded::Bill, id)
            );
            out.insert(format!("bill:{id}"), line);
        }
        for id in &view.splits {
            let s = &self.splits[id];
            let status = match s.status {
                SplitStatus::Open => "open",
                SplitStatus::Completed => "completed",
                SplitStatus::Cancelled => "cancelled",
                SplitStatus::Expired => "expired",
                SplitStatus::Refunded => "refunded",
            };
            let line = format!(
                "{} {} {} total={} members={:?} shares={} paid={:?} escrow={} until={} {status}",
                s.requester,
                s.requester_account,
                s.currency,
                s.total,
                s.members,
                list(&s.shares),
                s.paid,
                s.escrow,
                s.expires_at_ms
            );
            out.insert(format!("split:{id}"), line);
        }
        for id in &view.coupons {
            let c = &self.coupons[id];
            let status = match c.status {
                CouponStatus::Available => "available",
                CouponStatus::Shared => "shared",
                CouponStatus::Redeemed => "redeemed",
            };
            let line = format!(
                "{} holder={} {} {}..{} shared_by={:?} {status} rule={:?} reward={:?} adjustments={:?}",
                c.merchant,
                c.holder,
                c.currency,
                c.valid_from_ms,
                c.valid_until_ms,
                c.shared_by,
                c.rule,
                c.reward,
                c.adjustments
            );
            out.insert(format!("coupon:{id}"), line);
        }
        for id in &view.merchants {
            out.insert(format!("merchant:{id}"), self.merchants[id].to_string());
        }
        for id in &view.terminals {
            let (merchant, key, location) = &self.terminals[id];
            out.insert(format!("terminal:{id}"), format!("{merchant} {key:?} {location:?}"));
        }
        for id in &view.operators {
            out.insert(format!("operator:{id}"), self.operators[id].to_string());
        }
        for user in &view.users {
            out.insert(format!("contacts:{user}"), list(self.contacts.get(user).into_iter().flatten()));
            out.insert(format!("pool:{user}"), list(self.pool(self.now_ms, user)));
        }
        for id in &view.api_keys {
            let (role, hash, revoked) = &self.api_keys[id];
            out.insert(format!("api_key:{id}"), format!("{role:?} {hash:?} revoked={revoked}"));
        }
        for (kind, id, owner) in self.owner_records() {
            if view.owners.contains(&(kind, id.clone())) {
                out.insert(format!("owner:{kind:?}:{id}"), format!("{owner:?}"));
            }
        }
        out.insert("invariants".into(), "ok".into());
        out
    }
}

/// A bill as the state view shows it.
pub fn engine_bill_line(b: &kassa_engine::state_machine::Bill) -> String {
    let status = match &b.state {
        BillState::Open => "open".to_string(),
        BillState::Submitted { nonce, failures, .. } => format!("submitted nonce={nonce} failures={failures}"),
        BillState::Paid { charged, discount } => format!("paid {charged}-{discount}"),
        BillState::Cancelled => "cancelled".to_string(),
        BillState::Expired => "expired".to_string(),
    };
    format!(
        "{} {} {} {} {}..{} items={} total={} {status}{}",
        b.user,
        b.account,
        b.merchant,
        b.currency,
        b.opens_at_ms,
        b.closes_at_ms,
        b.items.len(),
        b.total,
        engine_refund_lines(&b.refunds)
    )
}

/// A split as the state view shows it.
pub fn engine_split_line(s: &kassa_engine::state_machine::Split) -> String {
    let status = match s.state {
        SplitState::Open => "open",
        SplitState::Completed => "completed",
        SplitState::Cancelled => "cancelled",
        SplitState::Expired => "expired",
        SplitState::Refunded => "refunded",
    };
    format!(
        "{} {} {} total={} members={:?} shares={} paid={:?} escrow={} until={} {status}",
        s.requester,
        s.requester_account,
        s.currency,
        s.total,
        s.members,
        list(&s.shares),
        s.paid,
        s.escrow,
        s.expires_at_ms
    )
}

/// A hold as the state view shows it.
pub fn engine_hold_line(h: &kassa_engine::state_machine::Hold) -> String {
    let status = match h.state {
        HoldState::Active => "active".to_string(),
        HoldState::Captured(amount) => format!("captured:{amount}"),
        HoldState::Capturing(amount) => format!("capturing:{amount}"),
        HoldState::Voided => "voided".to_string(),
        HoldState::Expired => "expired".to_string(),
    };
    format!("{}->{} {} {} until={} {status}", h.from, h.to, h.amount, h.currency, h.expires_at_ms)
}

/// An authorization as the state view shows it.
pub fn engine_authorization_line(a: &kassa_engine::state_machine::Authorization) -> String {
    let status = match &a.state {
        AuthorizationState::Active => "active".to_string(),
        AuthorizationState::Used(settlement) => format!("used:{settlement}"),
        AuthorizationState::Expired => "expired".to_string(),
        AuthorizationState::Revoked => "revoked".to_string(),
    };
    format!(
        "{} {} {} {} until={} nonce={} {status}",
        a.user,
        a.account,
        a.limit,
        a.currency,
        a.expires_at_ms,
        a.nonce()
    )
}

/// A POS settlement as the state view shows it.
pub fn engine_settlement_line(summary: &kassa_engine::state_machine::SettlementSummary) -> String {
    format!("{:?}{}", summary.outcome, engine_refund_lines(&summary.refunds))
}

/// The engine's side of `view`, read from its state machine (run it inside `Engine::read`).
pub fn engine_view(machine: &kassa_engine::StateMachine, view: &Probe) -> StateView {
    let mut out = StateView::new();
    out.insert("accounts:count".into(), machine.account_count().to_string());
    for (currency, totals) in machine.totals() {
        out.insert(format!("totals:{currency}"), format!("in={} out={}", totals.deposited, totals.withdrawn));
    }
    let missing = || "<missing in the engine>".to_string();
    for id in &view.accounts {
        let line = machine.account(id).map_or_else(missing, |a| {
            account_line(a.currency, a.closed, a.posted, a.held, i128::from(a.available()), a.overdraft_limit)
        });
        out.insert(format!("account:{id}"), line);
    }
    for id in &view.holds {
        let line = machine.hold(id).map_or_else(missing, engine_hold_line);
        out.insert(format!("hold:{id}"), line);
    }
    for id in &view.authorizations {
        let line = machine.authorization(id).map_or_else(missing, engine_authorization_line);
        out.insert(format!("authorization:{id}"), line);
    }
    for id in &view.settlements {
        let line = machine.settlement_summary(id).map_or_else(missing, |summary| engine_settlement_line(&summary));
        out.insert(format!("settlement:{id}"), line);
    }
    for id in &view.bills {
        let line = machine.bill(id).map_or_else(missing, engine_bill_line);
        out.insert(format!("bill:{id}"), line);
    }
    for id in &view.splits {
        let line = machine.split(id).map_or_else(missing, engine_split_line);
        out.insert(format!("split:{id}"), line);
    }
    for id in &view.coupons {
        let line = machine.coupon(id).map_or_else(missing, engine_coupon_line);
        out.insert(format!("coupon:{id}"), line);
    }
    for id in &view.merchants {
        out.insert(format!("merchant:{id}"), machine.merchant(id).map_or_else(missing, |m| m.account.to_string()));
    }
    for id in &view.terminals {
        let line =
            machine.terminal(id).map_or_else(missing, |t| format!("{} {:?} {:?}", t.merchant, t.mac_key, t.location));
        out.insert(format!("terminal:{id}"), line);
    }
    for id in &view.operators {
        out.insert(format!("operator:{id}"), machine.operator(id).map_or_else(missing, |o| o.merchant.to_string()));
    }
    for user in &view.users {
        let mut contacts: Vec<&Id> = machine.contacts(user).collect();
        contacts.sort();
        out.insert(format!("contacts:{user}"), list(contacts));
        let mut pool: Vec<&Id> = machine.pool(user).collect();
        pool.sort();
        out.insert(format!("pool:{user}"), list(pool));
    }
    for id in &view.api_keys {
        let line = machine
            .api_key(id)
            .map_or_else(missing, |key| format!("{:?} {:?} revoked={}", key.role, key.secret_hash, key.revoked));
        out.insert(format!("api_key:{id}"), line);
    }
    for (kind, id) in &view.owners {
        out.insert(format!("owner:{kind:?}:{id}"), machine.owner(*kind, id).map_or_else(missing, |o| format!("{o:?}")));
    }
    let invariants = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| machine.check_invariants()));
    let verdict = match invariants {
        Ok(()) => "ok".to_string(),
        Err(panic) => {
            let text =
                panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            format!("broken: {}", text.unwrap_or_default())
        }
    };
    out.insert("invariants".into(), verdict);
    out
}

/// A coupon's line, as the engine holds it.
pub fn engine_coupon_line(c: &kassa_engine::state_machine::Coupon) -> String {
    let status = match c.state {
        CouponState::Available => "available",
        CouponState::Shared => "shared",
        CouponState::Redeemed => "redeemed",
    };
    format!(
        "{} holder={} {} {}..{} shared_by={:?} {status} rule={:?} reward={:?} adjustments={:?}",
        c.merchant,
        c.holder,
        c.currency,
        c.valid_from_ms,
        c.valid_until_ms,
        c.shared_by,
        c.rule,
        c.reward,
        c.adjustments
    )
}

/// The engine's refunds of one object as the model writes its own (`Model::refund_lines`).
fn engine_refund_lines(refunds: &[kassa_engine::state_machine::RefundEntry]) -> String {
    refunds.iter().map(|r| format!(" refund {} {} left {}", r.refund, r.amount, r.remaining)).collect()
}

impl Model {
    /// Refunds of one object, each as ` refund <id> <amount> left <remaining>`.
    fn refund_lines(&self, kind: Refunded, of: &Id) -> String {
        self.refunds_of(kind, of)
            .iter()
            .map(|r| format!(" refund {} {} left {}", r.id, r.amount, r.left_after))
            .collect()
    }
}
