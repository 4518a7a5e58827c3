//! The coupon commands' bodies and the deduction rules coupons carry (re-exported by
//! [`crate::command`]).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::types::{Currency, GeoPoint, Id, TimestampMs};

/// A coupon's deduction, applied to a purchase amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeductionKind {
    /// `percent` off (0 < percent <= 100, e.g. `12.5`), at most `cap` minor units if given.
    PercentOff {
        /// Percentage taken off.
        percent: Decimal,
        /// Largest discount in minor units.
        cap: Option<u64>,
    },
    /// A fixed amount off, in minor units.
    FixedOff {
        /// Discount in minor units.
        amount: u64,
    },
    /// Spend at least `threshold`, save `save` (minor units).
    SpendSave {
        /// Purchase amount that unlocks the saving.
        threshold: u64,
        /// Discount in minor units.
        save: u64,
    },
}

/// A deduction rule: the kind plus a minimum spend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeductionRule {
    /// What is taken off.
    pub kind: DeductionKind,
    /// Purchases below this amount get no discount (the coupon is refused).
    pub min_spend: u64,
}

/// When a value adjustment applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdjustmentCondition {
    /// Between two instants (e.g. a happy hour).
    TimeWindow {
        /// Start, inclusive.
        from_ms: TimestampMs,
        /// End, exclusive.
        until_ms: TimestampMs,
    },
    /// Within `radius_m` metres of `center` (the purchase location must be given).
    Location {
        /// Centre of the area.
        center: GeoPoint,
        /// Radius in metres.
        radius_m: u32,
    },
}

/// Scales a coupon's discount when its condition holds (US20180260852A1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueAdjustment {
    /// When it applies.
    pub condition: AdjustmentCondition,
    /// New discount in percent of the base discount (150 = one and a half times).
    pub factor_percent: u32,
}

/// Body of [`Command::IssueCoupon`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueCoupon {
    /// Client-chosen coupon id.
    pub coupon: Id,
    /// The issuing merchant.
    pub merchant: Id,
    /// The user who holds it.
    pub holder: Id,
    /// Currency of the rule's amounts.
    pub currency: Currency,
    /// The deduction.
    pub rule: DeductionRule,
    /// Value adjustments by time window or location.
    pub adjustments: Vec<ValueAdjustment>,
    /// Start of validity.
    pub valid_from_ms: TimestampMs,
    /// End of validity.
    pub valid_until_ms: TimestampMs,
    /// Rule of the coupon given to a sharer when a contact redeems this coupon.
    pub reward: Option<DeductionRule>,
    /// Randomness for the redemption code, chosen by the caller's shell.
    pub nonce: u64,
}

/// Body of [`Command::ShareCoupon`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareCoupon {
    /// The coupon.
    pub coupon: Id,
    /// Its current holder.
    pub user: Id,
}

/// Body of [`Command::ClaimCoupon`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimCoupon {
    /// The pooled coupon.
    pub coupon: Id,
    /// A contact of the sharer.
    pub claimer: Id,
    /// Randomness for the claimer's new redemption code (the sharer's code stops working).
    pub nonce: u64,
}

/// Body of [`Command::RedeemCoupon`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemCoupon {
    /// Redemption id; same id and body returns the first result.
    pub id: Id,
    /// The merchant operator.
    pub operator: Id,
    /// The coupon's redemption code.
    pub code: String,
    /// The purchase amount, in minor units.
    pub amount: u64,
    /// Where the purchase happens, for location adjustments.
    pub location: Option<GeoPoint>,
}
