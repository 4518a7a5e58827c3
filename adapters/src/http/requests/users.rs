//! Splits, contacts and coupons.

use kassa_engine::command::{
    AddContact, AdjustmentCondition, ClaimCoupon, Command, DeductionKind, DeductionRule, IssueCoupon, PaySplitShare,
    RedeemCoupon, RequestSplit, ShareCoupon, SplitMember, SplitShares, ValueAdjustment,
};
use kassa_engine::constants::{AMOUNT_MINOR_MAX, COUPON_ADJUSTMENTS_MAX, SPLIT_MEMBERS_MAX};
use kassa_engine::types::GeoPoint;
use kassa_engine::{Id, Rejection};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::{RequestError, currency, expiry};
#[cfg(feature = "server")]
use crate::http::schemas;

// ----- splits ----------------------------------------------------------------------------------

/// A member of a [`SplitBody`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = Member))]
pub struct MemberBody {
    /// The member's user id.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub user: Id,
    /// The account the share is paid from.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub account: Id,
}

/// `POST /v1/splits`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = RequestSplit))]
pub struct SplitBody {
    /// The split's id.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub id: Id,
    /// The requesting user.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub requester: Id,
    /// The account paid when the split completes.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub requester_account: Id,
    /// Minor units.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::amount))]
    pub total: u64,
    /// ISO 4217 alpha code.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::currency))]
    pub currency: String,
    /// At most `SPLIT_MEMBERS_MAX` members.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::split_members))]
    pub members: Vec<MemberBody>,
    /// One share per member (summing to `total`); equal shares when absent.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::shares))]
    pub shares: Option<Vec<u64>>,
    /// Seconds until an incomplete split expires.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::seconds))]
    pub expires_in_s: u64,
    /// What the caller attaches to what this creates (`metadata`: string values only).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(schema_with = schemas::metadata))]
    pub metadata: Option<super::MetadataBody>,
}

impl SplitBody {
    /// [`Command::RequestSplit`], expiring `expires_in_s` after `now_ms`.
    pub fn command(&self, now_ms: u64) -> Result<Command, RequestError> {
        if self.members.len() > SPLIT_MEMBERS_MAX {
            return Err(RequestError::Rejected(Rejection::InvalidShares));
        }
        Ok(Command::RequestSplit(RequestSplit {
            split: self.id.clone(),
            requester: self.requester.clone(),
            requester_account: self.requester_account.clone(),
            total: self.total,
            currency: currency(&self.currency)?,
            members: self
                .members
                .iter()
                .map(|member| SplitMember { user: member.user.clone(), account: member.account.clone() })
                .collect(),
            shares: self.shares.clone().map_or(SplitShares::Equal, SplitShares::Explicit),
            expires_at_ms: expiry(now_ms, self.expires_in_s)?,
        }))
    }
}

/// `POST /v1/splits/{id}/pay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = PayShare))]
pub struct PayBody {
    /// The paying member's user id.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub member: Id,
}

impl PayBody {
    /// [`Command::PaySplitShare`] of `split` (the path id).
    pub fn command(&self, split: &Id) -> Command {
        Command::PaySplitShare(PaySplitShare { split: split.clone(), member: self.member.clone() })
    }
}

// ----- contacts, coupons -----------------------------------------------------------------------

/// `POST /v1/contacts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = Contact))]
pub struct ContactBody {
    /// One user.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub user: Id,
    /// The other.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub contact: Id,
}

impl ContactBody {
    /// [`Command::AddContact`].
    pub fn command(&self) -> Command {
        Command::AddContact(AddContact { user: self.user.clone(), contact: self.contact.clone() })
    }
}

/// A coupon's deduction rule, tagged by `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = Rule))]
pub enum RuleBody {
    /// `percent` off, at most `cap`.
    PercentOff {
        /// Percent, e.g. `"12.5"`.
        #[cfg_attr(feature = "server", schema(schema_with = schemas::percent))]
        percent: Decimal,
        /// Most minor units off.
        #[cfg_attr(feature = "server", schema(schema_with = schemas::nullable_u64))]
        cap: Option<u64>,
        /// Least purchase it applies to (default 0).
        #[serde(default)]
        #[cfg_attr(feature = "server", schema(schema_with = schemas::u64_any))]
        min_spend: u64,
    },
    /// A fixed amount off.
    FixedOff {
        /// Minor units off.
        #[cfg_attr(feature = "server", schema(schema_with = schemas::amount))]
        amount: u64,
        /// Least purchase it applies to (default 0).
        #[serde(default)]
        #[cfg_attr(feature = "server", schema(schema_with = schemas::u64_any))]
        min_spend: u64,
    },
    /// `save` off for every `threshold` spent.
    SpendSave {
        /// Minor units per step.
        #[cfg_attr(feature = "server", schema(schema_with = schemas::amount))]
        threshold: u64,
        /// Minor units saved per step.
        #[cfg_attr(feature = "server", schema(schema_with = schemas::amount))]
        save: u64,
        /// Least purchase it applies to (default 0).
        #[serde(default)]
        #[cfg_attr(feature = "server", schema(schema_with = schemas::u64_any))]
        min_spend: u64,
    },
}

impl RuleBody {
    /// The engine's [`DeductionRule`] (the engine validates its numbers).
    pub fn rule(&self) -> DeductionRule {
        match self {
            RuleBody::PercentOff { percent, cap, min_spend } => DeductionRule {
                kind: DeductionKind::PercentOff { percent: *percent, cap: *cap },
                min_spend: *min_spend,
            },
            RuleBody::FixedOff { amount, min_spend } => {
                DeductionRule { kind: DeductionKind::FixedOff { amount: *amount }, min_spend: *min_spend }
            }
            RuleBody::SpendSave { threshold, save, min_spend } => DeductionRule {
                kind: DeductionKind::SpendSave { threshold: *threshold, save: *save },
                min_spend: *min_spend,
            },
        }
    }
}

/// A coupon value adjustment, tagged by `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = Adjustment))]
pub enum AdjustmentBody {
    /// Scales the discount inside a time window.
    TimeWindow {
        /// Window start.
        #[cfg_attr(feature = "server", schema(schema_with = schemas::u64_any))]
        from_ms: u64,
        /// Window end.
        #[cfg_attr(feature = "server", schema(schema_with = schemas::u64_any))]
        until_ms: u64,
        /// Scale, in percent.
        #[cfg_attr(feature = "server", schema(schema_with = schemas::factor_percent))]
        factor_percent: u32,
    },
    /// Scales the discount near a place.
    Location {
        /// Latitude in microdegrees.
        #[cfg_attr(feature = "server", schema(schema_with = schemas::i32_any))]
        latitude_e6: i32,
        /// Longitude in microdegrees.
        #[cfg_attr(feature = "server", schema(schema_with = schemas::i32_any))]
        longitude_e6: i32,
        /// Radius in metres.
        #[cfg_attr(feature = "server", schema(schema_with = schemas::u32_any))]
        radius_m: u32,
        /// Scale, in percent.
        #[cfg_attr(feature = "server", schema(schema_with = schemas::factor_percent))]
        factor_percent: u32,
    },
}

impl AdjustmentBody {
    /// The engine's [`ValueAdjustment`].
    pub fn adjustment(&self) -> ValueAdjustment {
        match self {
            AdjustmentBody::TimeWindow { from_ms, until_ms, factor_percent } => ValueAdjustment {
                condition: AdjustmentCondition::TimeWindow { from_ms: *from_ms, until_ms: *until_ms },
                factor_percent: *factor_percent,
            },
            AdjustmentBody::Location { latitude_e6, longitude_e6, radius_m, factor_percent } => ValueAdjustment {
                condition: AdjustmentCondition::Location {
                    center: GeoPoint { latitude_e6: *latitude_e6, longitude_e6: *longitude_e6 },
                    radius_m: *radius_m,
                },
                factor_percent: *factor_percent,
            },
        }
    }
}

/// `POST /v1/coupons`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = IssueCoupon))]
pub struct CouponBody {
    /// The coupon's id.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub id: Id,
    /// The issuing merchant.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub merchant: Id,
    /// The user it is issued to.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub holder: Id,
    /// ISO 4217 alpha code.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::currency))]
    pub currency: String,
    /// The deduction.
    pub rule: RuleBody,
    /// At most `COUPON_ADJUSTMENTS_MAX` adjustments (default none).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(schema_with = schemas::adjustments))]
    pub adjustments: Vec<AdjustmentBody>,
    /// Seconds until it becomes valid (default 0).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(schema_with = schemas::seconds))]
    pub starts_in_s: u64,
    /// Seconds until it expires.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::seconds))]
    pub expires_in_s: u64,
    /// The sharer's reward rule when a contact redeems it.
    pub reward: Option<RuleBody>,
}

impl CouponBody {
    /// [`Command::IssueCoupon`], valid from `starts_in_s` to `expires_in_s` after `now_ms`, with
    /// `nonce`.
    pub fn command(&self, now_ms: u64, nonce: u64) -> Result<Command, RequestError> {
        if self.adjustments.len() > COUPON_ADJUSTMENTS_MAX {
            return Err(RequestError::Rejected(Rejection::InvalidRule));
        }
        Ok(Command::IssueCoupon(IssueCoupon {
            coupon: self.id.clone(),
            merchant: self.merchant.clone(),
            holder: self.holder.clone(),
            currency: currency(&self.currency)?,
            rule: self.rule.rule(),
            adjustments: self.adjustments.iter().map(AdjustmentBody::adjustment).collect(),
            valid_from_ms: expiry(now_ms, self.starts_in_s)?,
            valid_until_ms: expiry(now_ms, self.expires_in_s)?,
            reward: self.reward.as_ref().map(RuleBody::rule),
            nonce,
        }))
    }
}

/// `POST /v1/coupons/{id}/share` and `.../claim`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = UserRef))]
pub struct UserBody {
    /// The sharing or claiming user.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub user: Id,
}

impl UserBody {
    /// [`Command::ShareCoupon`] of `coupon` (the path id) into the user's pool.
    pub fn share(&self, coupon: &Id) -> Command {
        Command::ShareCoupon(ShareCoupon { coupon: coupon.clone(), user: self.user.clone() })
    }

    /// [`Command::ClaimCoupon`] of `coupon` (the path id) by the user.
    pub fn claim(&self, coupon: &Id, nonce: u64) -> Command {
        Command::ClaimCoupon(ClaimCoupon { coupon: coupon.clone(), claimer: self.user.clone(), nonce })
    }
}

/// Where a purchase happens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = Location))]
pub struct LocationBody {
    /// Latitude in microdegrees.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::i32_any))]
    pub latitude_e6: i32,
    /// Longitude in microdegrees.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::i32_any))]
    pub longitude_e6: i32,
}

impl LocationBody {
    /// The engine's [`GeoPoint`].
    pub fn point(&self) -> GeoPoint {
        GeoPoint { latitude_e6: self.latitude_e6, longitude_e6: self.longitude_e6 }
    }
}

/// `POST /v1/coupons/verify` (a read: no command).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = VerifyCoupon))]
pub struct VerifyBody {
    /// The coupon code.
    pub code: String,
    /// Minor units of the purchase.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::amount))]
    pub amount: u64,
    /// Where the purchase happens.
    pub location: Option<LocationBody>,
    /// The operator verifying: an admin key names one; an operator key is its own.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::operator))]
    pub operator: Option<Id>,
}

/// `POST /v1/coupons/redeem`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = RedeemCoupon))]
pub struct RedeemBody {
    /// The redemption's id.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub id: Id,
    /// The coupon code.
    pub code: String,
    /// Minor units of the purchase.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::amount))]
    pub amount: u64,
    /// Where the purchase happens.
    pub location: Option<LocationBody>,
    /// The operator redeeming: an admin key names one; an operator key is its own.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::operator))]
    pub operator: Option<Id>,
}

impl RedeemBody {
    /// [`Command::RedeemCoupon`] by `operator` (the caller's key).
    pub fn command(&self, operator: &Id) -> Command {
        Command::RedeemCoupon(RedeemCoupon {
            id: self.id.clone(),
            operator: operator.clone(),
            code: self.code.clone(),
            amount: self.amount,
            location: self.location.as_ref().map(LocationBody::point),
        })
    }
}

/// `POST /v1/quotes` (a read: no command).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = Quote))]
pub struct QuoteBody {
    /// The coupon.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub coupon: Id,
    /// Minor units of the purchase.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::amount))]
    pub amount: u64,
    /// Where the purchase happens.
    pub location: Option<LocationBody>,
}

impl QuoteBody {
    /// Refuses an amount outside 1..=`AMOUNT_MINOR_MAX`.
    pub fn check_amount(&self) -> Result<(), RequestError> {
        if self.amount == 0 || self.amount > AMOUNT_MINOR_MAX {
            return Err(RequestError::Rejected(Rejection::InvalidAmount));
        }
        Ok(())
    }
}
