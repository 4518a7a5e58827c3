//! Coupon arithmetic, exact with integer fractions (no decimal library, no floats).
//!
//! The documented rule: the discount is computed exactly (percentage of the amount, or the fixed
//! saving, then times each applicable adjustment factor in percent), rounded once half-to-even
//! to a whole minor unit, at most the amount; a percent cap applies after the adjustments.
//! The model keeps the fraction `numerator / denominator` in u128; the generator keeps amounts,
//! percentages and factors small enough for that to be exact.

use kassa_engine::TimestampMs;
use kassa_engine::command::{AdjustmentCondition, DeductionKind, DeductionRule, Rejection, ValueAdjustment};
use kassa_engine::constants::{
    AMOUNT_MINOR_MAX, COUPON_ADJUSTMENTS_MAX, COUPON_FACTOR_PERCENT_MAX, COUPON_RADIUS_M_MAX,
};
use kassa_engine::types::GeoPoint;
use rust_decimal::Decimal;

/// What a coupon takes off a purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    /// Discount, minor units.
    pub discount: u64,
    /// What is left to pay.
    pub payable: u64,
}

/// Checks a rule's own values.
pub fn validate_rule(rule: &DeductionRule) -> Result<(), Rejection> {
    let valid = match &rule.kind {
        DeductionKind::PercentOff { percent, cap } => {
            *percent > Decimal::ZERO
                && *percent <= Decimal::ONE_HUNDRED
                && cap.is_none_or(|cap| (1..=AMOUNT_MINOR_MAX).contains(&cap))
        }
        DeductionKind::FixedOff { amount } => (1..=AMOUNT_MINOR_MAX).contains(amount),
        DeductionKind::SpendSave { threshold, save } => {
            *save > 0 && save <= threshold && *threshold <= AMOUNT_MINOR_MAX
        }
    };
    if valid && rule.min_spend <= AMOUNT_MINOR_MAX { Ok(()) } else { Err(Rejection::InvalidRule) }
}

/// Checks value adjustments: at most 8, windows non-empty, areas on the globe with a radius of
/// 1 m..=1,000 km, factors at most 1,000 %.
pub fn validate_adjustments(adjustments: &[ValueAdjustment]) -> Result<(), Rejection> {
    if adjustments.len() > COUPON_ADJUSTMENTS_MAX {
        return Err(Rejection::InvalidRule);
    }
    for adjustment in adjustments {
        let condition_ok = match &adjustment.condition {
            AdjustmentCondition::TimeWindow { from_ms, until_ms } => from_ms < until_ms,
            AdjustmentCondition::Location { center, radius_m } => {
                center.latitude_e6.unsigned_abs() <= 90_000_000
                    && center.longitude_e6.unsigned_abs() <= 180_000_000
                    && (1..=COUPON_RADIUS_M_MAX).contains(radius_m)
            }
        };
        if !condition_ok || adjustment.factor_percent > COUPON_FACTOR_PERCENT_MAX {
            return Err(Rejection::InvalidRule);
        }
    }
    Ok(())
}

/// `percent` as the exact fraction `numerator / denominator` of 100.
fn percent_fraction(percent: Decimal) -> (u128, u128) {
    let numerator = u128::try_from(percent.mantissa()).expect("a validated percentage is positive");
    (numerator, 10u128.pow(percent.scale()) * 100)
}

/// `numerator / denominator` rounded half-to-even.
fn round_half_even(numerator: u128, denominator: u128) -> u128 {
    let (quotient, remainder) = (numerator / denominator, numerator % denominator);
    match (remainder * 2).cmp(&denominator) {
        std::cmp::Ordering::Less => quotient,
        std::cmp::Ordering::Greater => quotient + 1,
        std::cmp::Ordering::Equal => quotient + quotient % 2,
    }
}

/// Prices `rule` with `adjustments` on a purchase of `amount` at `now` at `location`.
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
    let (mut numerator, mut denominator) = match &rule.kind {
        DeductionKind::PercentOff { percent, .. } => {
            let (top, bottom) = percent_fraction(*percent);
            (u128::from(amount) * top, bottom)
        }
        DeductionKind::FixedOff { amount: off } => (u128::from(*off), 1),
        DeductionKind::SpendSave { threshold, save } => {
            if amount < *threshold {
                return Err(Rejection::BelowMinimumSpend);
            }
            (u128::from(*save), 1)
        }
    };
    for adjustment in adjustments.iter().filter(|adjustment| applies(&adjustment.condition, now, location)) {
        numerator = numerator.checked_mul(u128::from(adjustment.factor_percent)).expect("model: fraction fits u128");
        denominator = denominator.checked_mul(100).expect("model: fraction fits u128");
    }
    let rounded = round_half_even(numerator, denominator).min(u128::from(amount));
    let mut discount = u64::try_from(rounded).expect("at most the amount");
    if let DeductionKind::PercentOff { cap: Some(cap), .. } = rule.kind {
        discount = discount.min(cap);
    }
    Ok(Quote { discount, payable: amount - discount })
}

fn applies(condition: &AdjustmentCondition, now: TimestampMs, location: Option<GeoPoint>) -> bool {
    match condition {
        AdjustmentCondition::TimeWindow { from_ms, until_ms } => *from_ms <= now && now < *until_ms,
        AdjustmentCondition::Location { center, radius_m } => {
            location.is_some_and(|point| within_metres(*center, point, *radius_m))
        }
    }
}

/// Metres per microdegree of latitude times 10^10 (mean Earth radius 6,371 km).
const METRES_PER_MICRODEGREE_E10: u128 = 1_111_949_266;

/// Whether `point` is within `radius_m` of `center`. On the centre's meridian (where the
/// generator places a purchase that names a coupon's area, clear of its boundary) exactly, in
/// integers; elsewhere (a sale priced where its terminal stands, which may be anywhere) by the
/// documented equirectangular distance in floating point, which must be clear of the boundary.
#[allow(clippy::float_arithmetic)] // a distance in the model's check, not money
pub fn within_metres(center: GeoPoint, point: GeoPoint, radius_m: u32) -> bool {
    if center.longitude_e6 == point.longitude_e6 {
        let delta = u128::from(center.latitude_e6.abs_diff(point.latitude_e6));
        return delta * METRES_PER_MICRODEGREE_E10 <= u128::from(radius_m) * 10_000_000_000;
    }
    let metres_per_microdegree = 6_371_000.0 * std::f64::consts::PI / 180.0 / 1e6;
    let mean_latitude = (f64::from(center.latitude_e6) + f64::from(point.latitude_e6)) / 2.0;
    let cos_latitude = (mean_latitude / 1e6).to_radians().cos();
    let delta_longitude = (i64::from(point.longitude_e6) - i64::from(center.longitude_e6) + 540_000_000)
        .rem_euclid(360_000_000)
        - 180_000_000;
    let x = delta_longitude as f64 * cos_latitude * metres_per_microdegree;
    let y = (f64::from(point.latitude_e6) - f64::from(center.latitude_e6)) * metres_per_microdegree;
    let (squared, radius_squared) = (x * x + y * y, f64::from(radius_m) * f64::from(radius_m));
    assert!((squared - radius_squared).abs() > radius_squared * 1e-3, "model: a terminal on a coupon's boundary");
    squared <= radius_squared
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: DeductionKind) -> DeductionRule {
        DeductionRule { kind, min_spend: 0 }
    }

    #[test]
    fn rounding_is_half_to_even_once() {
        let ten = rule(DeductionKind::PercentOff { percent: Decimal::new(10, 0), cap: None });
        assert_eq!(quote(&ten, &[], 125, 0, None).unwrap().discount, 12);
        assert_eq!(quote(&ten, &[], 135, 0, None).unwrap().discount, 14);
        let fixed = rule(DeductionKind::FixedOff { amount: 333 });
        let happy_hour = ValueAdjustment {
            condition: AdjustmentCondition::TimeWindow { from_ms: 100, until_ms: 200 },
            factor_percent: 150,
        };
        assert_eq!(quote(&fixed, std::slice::from_ref(&happy_hour), 10_000, 150, None).unwrap().discount, 500);
        assert_eq!(quote(&fixed, &[], 300, 0, None).unwrap(), Quote { discount: 300, payable: 0 });
    }
}
