//! Coupon arithmetic, pure and exact: `rust_decimal`, never floats.
//!
//! Rounding rule: the discount is computed exactly in decimal (percentages, then value
//! adjustment factors), then rounded once, half-to-even, to a whole minor unit of the currency.
//! A percent cap applies after adjustments; the discount never exceeds the purchase amount, so
//! the payable amount is never below zero.

use rust_decimal::prelude::*;
use rust_decimal::{Decimal, MathematicalOps, RoundingStrategy};

use crate::command::{AdjustmentCondition, DeductionKind, DeductionRule, Rejection, ValueAdjustment};
use crate::constants::{AMOUNT_MINOR_MAX, COUPON_ADJUSTMENTS_MAX, COUPON_FACTOR_PERCENT_MAX, COUPON_RADIUS_M_MAX};
use crate::types::{GeoPoint, TimestampMs};

/// A priced coupon: what it takes off a purchase and what is left to pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    /// Discount in minor units.
    pub discount: u64,
    /// Purchase amount minus discount.
    pub payable: u64,
}

/// Checks a deduction rule's own values.
pub fn validate_rule(rule: &DeductionRule) -> Result<(), Rejection> {
    let valid = match &rule.kind {
        DeductionKind::PercentOff { percent, cap } => {
            *percent > Decimal::ZERO
                && *percent <= Decimal::ONE_HUNDRED
                && cap.is_none_or(|cap| cap > 0 && cap <= AMOUNT_MINOR_MAX)
        }
        DeductionKind::FixedOff { amount } => *amount > 0 && *amount <= AMOUNT_MINOR_MAX,
        DeductionKind::SpendSave { threshold, save } => {
            *save > 0 && *save <= *threshold && *threshold <= AMOUNT_MINOR_MAX
        }
    };
    if !valid || rule.min_spend > AMOUNT_MINOR_MAX {
        return Err(Rejection::InvalidRule);
    }
    Ok(())
}

/// Checks value adjustments.
pub fn validate_adjustments(adjustments: &[ValueAdjustment]) -> Result<(), Rejection> {
    if adjustments.len() > COUPON_ADJUSTMENTS_MAX {
        return Err(Rejection::InvalidRule);
    }
    for adjustment in adjustments {
        let condition_valid = match &adjustment.condition {
            AdjustmentCondition::TimeWindow { from_ms, until_ms } => from_ms < until_ms,
            AdjustmentCondition::Location { center, radius_m } => {
                center.is_valid() && *radius_m > 0 && *radius_m <= COUPON_RADIUS_M_MAX
            }
        };
        if !condition_valid || adjustment.factor_percent > COUPON_FACTOR_PERCENT_MAX {
            return Err(Rejection::InvalidRule);
        }
    }
    Ok(())
}

/// Prices `rule` with `adjustments` on a purchase of `amount` at `now`, at `location` if known.
pub fn quote(
    rule: &DeductionRule,
    adjustments: &[ValueAdjustment],
    amount: u64,
    now: TimestampMs,
    location: Option<GeoPoint>,
) -> Result<Quote, Rejection> {
    if amount < rule.min_spend {
        return Err(Rejection::BelowMinimumSpend);
    }
    let amount_decimal = Decimal::from(amount);
    let base = match &rule.kind {
        DeductionKind::PercentOff { percent, .. } => amount_decimal * *percent / Decimal::ONE_HUNDRED,
        DeductionKind::FixedOff { amount: off } => Decimal::from(*off),
        DeductionKind::SpendSave { threshold, save } => {
            if amount < *threshold {
                return Err(Rejection::BelowMinimumSpend);
            }
            Decimal::from(*save)
        }
    };
    let mut discount = base;
    for adjustment in adjustments {
        if applies(&adjustment.condition, now, location) {
            discount = discount * Decimal::from(adjustment.factor_percent) / Decimal::ONE_HUNDRED;
        }
    }
    let rounded = discount.round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven);
    // Never more than the purchase: this also bounds the value before it becomes an integer.
    let rounded = rounded.min(amount_decimal);
    let mut discount = rounded.to_u64().expect("a discount between zero and the amount");
    if let DeductionKind::PercentOff { cap: Some(cap), .. } = rule.kind {
        discount = discount.min(cap);
    }
    let discount = discount.min(amount);
    Ok(Quote { discount, payable: amount - discount })
}

fn applies(condition: &AdjustmentCondition, now: TimestampMs, location: Option<GeoPoint>) -> bool {
    match condition {
        AdjustmentCondition::TimeWindow { from_ms, until_ms } => *from_ms <= now && now < *until_ms,
        AdjustmentCondition::Location { center, radius_m } => {
            location.is_some_and(|point| within(*center, point, *radius_m))
        }
    }
}

/// Whether `point` is within `radius_m` of `center` (equirectangular approximation, exact
/// decimal arithmetic; good to well under 1% at city scale).
pub fn within(center: GeoPoint, point: GeoPoint, radius_m: u32) -> bool {
    // Metres per microdegree of latitude: 6_371_000 m * pi / 180 / 10^6.
    let metres_per_microdegree = Decimal::new(1_111_949_266, 10);
    let microdegrees_per_radian = Decimal::from(180_000_000) / Decimal::PI;
    let mean_latitude = Decimal::from(i64::from(center.latitude_e6) + i64::from(point.latitude_e6)) / Decimal::TWO;
    let cos_latitude = (mean_latitude / microdegrees_per_radian).cos();
    let mut delta_longitude = i64::from(point.longitude_e6) - i64::from(center.longitude_e6);
    if delta_longitude > 180_000_000 {
        delta_longitude -= 360_000_000;
    } else if delta_longitude < -180_000_000 {
        delta_longitude += 360_000_000;
    }
    let delta_latitude = i64::from(point.latitude_e6) - i64::from(center.latitude_e6);
    let x = Decimal::from(delta_longitude) * cos_latitude * metres_per_microdegree;
    let y = Decimal::from(delta_latitude) * metres_per_microdegree;
    let radius = Decimal::from(radius_m);
    x * x + y * y <= radius * radius
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn rule(kind: DeductionKind) -> DeductionRule {
        DeductionRule { kind, min_spend: 0 }
    }

    #[test]
    fn percent_off_rounds_half_even_to_the_minor_unit() {
        let ten_percent = rule(DeductionKind::PercentOff { percent: dec!(10), cap: None });
        // 10% of 125 = 12.5 -> 12 (even); of 135 = 13.5 -> 14 (even).
        assert_eq!(quote(&ten_percent, &[], 125, 0, None).unwrap(), Quote { discount: 12, payable: 113 });
        assert_eq!(quote(&ten_percent, &[], 135, 0, None).unwrap().discount, 14);
        let odd = rule(DeductionKind::PercentOff { percent: dec!(12.5), cap: Some(500) });
        assert_eq!(quote(&odd, &[], 1_000, 0, None).unwrap().discount, 125);
        assert_eq!(quote(&odd, &[], 100_000, 0, None).unwrap().discount, 500, "capped");
    }

    #[test]
    fn fixed_and_threshold_rules_never_go_below_zero() {
        let fixed = rule(DeductionKind::FixedOff { amount: 500 });
        assert_eq!(quote(&fixed, &[], 300, 0, None).unwrap(), Quote { discount: 300, payable: 0 });
        let spend = rule(DeductionKind::SpendSave { threshold: 5_000, save: 700 });
        assert_eq!(quote(&spend, &[], 4_999, 0, None), Err(Rejection::BelowMinimumSpend));
        assert_eq!(quote(&spend, &[], 5_000, 0, None).unwrap().discount, 700);
        let minimum = DeductionRule { kind: DeductionKind::FixedOff { amount: 100 }, min_spend: 1_000 };
        assert_eq!(quote(&minimum, &[], 999, 0, None), Err(Rejection::BelowMinimumSpend));
    }

    #[test]
    fn adjustments_scale_by_time_and_place() {
        let fixed = rule(DeductionKind::FixedOff { amount: 333 });
        let happy_hour = ValueAdjustment {
            condition: AdjustmentCondition::TimeWindow { from_ms: 100, until_ms: 200 },
            factor_percent: 150,
        };
        // 333 * 1.5 = 499.5 -> 500 (half-even to the even neighbour).
        assert_eq!(quote(&fixed, std::slice::from_ref(&happy_hour), 10_000, 150, None).unwrap().discount, 500);
        assert_eq!(quote(&fixed, std::slice::from_ref(&happy_hour), 10_000, 200, None).unwrap().discount, 333);
        let store = GeoPoint { latitude_e6: 52_520_000, longitude_e6: 13_405_000 };
        let near = GeoPoint { latitude_e6: 52_521_000, longitude_e6: 13_406_000 }; // ~130 m
        let far = GeoPoint { latitude_e6: 52_530_000, longitude_e6: 13_405_000 }; // ~1.1 km
        let nearby = ValueAdjustment {
            condition: AdjustmentCondition::Location { center: store, radius_m: 500 },
            factor_percent: 200,
        };
        assert_eq!(quote(&fixed, std::slice::from_ref(&nearby), 10_000, 0, Some(near)).unwrap().discount, 666);
        assert_eq!(quote(&fixed, std::slice::from_ref(&nearby), 10_000, 0, Some(far)).unwrap().discount, 333);
        assert_eq!(quote(&fixed, std::slice::from_ref(&nearby), 10_000, 0, None).unwrap().discount, 333);
    }

    #[test]
    fn distance_handles_the_antimeridian() {
        let east = GeoPoint { latitude_e6: 0, longitude_e6: 179_999_000 };
        let west = GeoPoint { latitude_e6: 0, longitude_e6: -179_999_000 };
        assert!(within(east, west, 300)); // ~222 m apart
        assert!(!within(east, west, 200));
    }

    #[test]
    fn invalid_rules_are_refused() {
        assert!(validate_rule(&rule(DeductionKind::PercentOff { percent: dec!(0), cap: None })).is_err());
        assert!(validate_rule(&rule(DeductionKind::PercentOff { percent: dec!(100.01), cap: None })).is_err());
        assert!(validate_rule(&rule(DeductionKind::FixedOff { amount: 0 })).is_err());
        assert!(validate_rule(&rule(DeductionKind::SpendSave { threshold: 10, save: 11 })).is_err());
        let too_big = ValueAdjustment {
            condition: AdjustmentCondition::TimeWindow { from_ms: 0, until_ms: 1 },
            factor_percent: COUPON_FACTOR_PERCENT_MAX + 1,
        };
        assert!(validate_adjustments(&[too_big]).is_err());
    }
}
