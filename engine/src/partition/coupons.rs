//! The messages of a payment's coupon kept on the coupon's partition
//! (`state_machine/transit/coupons.rs`).

use serde::{Deserialize, Serialize};

use super::PartitionId;
use crate::types::{Currency, GeoPoint, Id};

/// A payment's coupon asked of the coupon's partition ([`TransitMessage::CouponAsk`](super::TransitMessage::CouponAsk)):
/// price it for this payment and keep it for the payment until it is decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponAsk {
    /// The partition where the payment waits.
    pub source: PartitionId,
    /// Numbered by the source with its credits.
    pub number: u64,
    /// The coupon.
    pub coupon: Id,
    /// The user paying, who must hold it.
    pub user: Id,
    /// The merchant paid, who must have issued it.
    pub merchant: Id,
    /// The payment's currency and amount in minor units, before the coupon.
    pub currency: Currency,
    /// See `currency`.
    pub amount: u64,
    /// Where the payment is made (a coupon's rule may name a place).
    pub location: Option<GeoPoint>,
}

/// How the payment that coupon ask `ask` of `source` was made for ended
/// ([`TransitMessage::CouponEnded`](super::TransitMessage::CouponEnded)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponEnd {
    /// The ask's source.
    pub source: PartitionId,
    /// This message's own number at the source (its answer closes it there).
    pub number: u64,
    /// The ask's number.
    pub ask: u64,
    /// The coupon.
    pub coupon: Id,
    /// Whether the payment was approved (the coupon is redeemed) or refused (it is free again).
    pub redeemed: bool,
}
