//! The checks of accounts between partitions (`state_machine/checks.rs`, `transit/holds.rs`).

use serde::{Deserialize, Serialize};

use super::PartitionId;
use crate::command::Principal;
use crate::types::{Currency, Id};

/// An account to check on its own partition before a command that names it applies (a hold's
/// payee, an authorization's or a bill's account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The partition where the command waits.
    pub source: PartitionId,
    /// Numbered by the source with its credits.
    pub number: u64,
    /// What the check is for.
    pub subject: Checking,
    /// The account.
    pub account: Id,
    /// The currency it must hold (`None`: any; the answer says which).
    pub currency: Option<Currency>,
}

/// What a [`Check`] is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Checking {
    /// The payee of hold `id`, being placed (a missing account is `counterparty_not_found`).
    HoldPayee(Id),
    /// The account of authorization `id`, being created (a missing account is
    /// `account_not_found`).
    Authorization(Id),
    /// The charged account of bill `id`, being opened (a missing account is
    /// `account_not_found`).
    Bill(Id),
    /// One of the accounts of split `id`, being requested (the requester's or a member's; a
    /// missing account is `account_not_found`). The accounts are checked one after another.
    Split(Id),
    /// A payer of a transfer batch's leg (independent or linked), for the batch's authority rule
    /// (who owns it). The payers elsewhere are checked one after another.
    BatchPayer,
    /// The account merchant `id` is being registered with (a missing account is
    /// `account_not_found`). The merchant's terminals, operators and coupons sent meanwhile wait
    /// for it.
    Merchant(Id),
    /// The merchant's account of sale `id`, which places a hold (the sale refuses a missing
    /// account `counterparty_not_found`, as one partition does).
    SaleMerchant(Id),
}

impl Checking {
    /// The hold being placed, if the check is for one (a placement's, or a sale's).
    pub fn hold(&self) -> Option<&Id> {
        match self {
            Checking::HoldPayee(id) | Checking::SaleMerchant(id) => Some(id),
            Checking::Authorization(_)
            | Checking::Bill(_)
            | Checking::Split(_)
            | Checking::BatchPayer
            | Checking::Merchant(_) => None,
        }
    }
}

/// A checked account, as its partition answered ([`TransitMessage::Checked`](super::TransitMessage::Checked)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedAccount {
    /// Its recorded owner (none: the admin's).
    pub owner: Option<Principal>,
    /// The merchants registered with it, in id order.
    pub merchants: Vec<Principal>,
    /// Its currency.
    pub currency: Currency,
    /// Whether it is closed (an authorization's check answers a closed account too, so that the
    /// command decides in its own order).
    pub closed: bool,
}

impl CheckedAccount {
    /// Every principal who owns it: its owner and its merchants (a hold's payee side).
    pub fn owners(&self) -> Vec<Principal> {
        self.owner.iter().chain(&self.merchants).cloned().collect()
    }
}
