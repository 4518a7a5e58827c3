//! Which ISO 8583 messages are the same settlement.
//!
//! A settlement (a 0100 authorization or a 0200 financial message) is identified by its
//! terminal (field 41), its STAN (field 11) and its transmission date and time (field 7,
//! `MMDDhhmmss`, UTC, as ISO 8583:1987 defines it): kassa's settlement id is
//! `iso:<terminal>:<STAN>:<MMDDhhmmss>` ([`settlement_id`]). Hence:
//!
//! - an identical retransmission (the same three fields and the same body) is the same
//!   settlement, answered with the original answer (the same field 39, the same approval code in
//!   field 38), nothing charged or held twice;
//! - the same three fields with another body is answered 94 (duplicate);
//! - a STAN reused with another field 7 (the terminal's STAN wrapped, or was reset for the day)
//!   is a new settlement;
//! - nobody else can take such an id first: the engine refuses an `iso:` id to a settlement of
//!   another terminal and to any hold (`invalid_field`, `ISO_SETTLEMENT_ID_PREFIX`), so a
//!   terminal's next sale is never answered 94 because someone guessed its STAN.
//!
//! A 0400 reversal names the settlement it reverses ([`reversal_original`]): by field 90
//! (original data elements: the original MTI, 4 digits; its STAN, 6; its field 7, 10; then 22
//! digits of institution ids, which kassa ignores) when present, otherwise by its own fields 11
//! and 7 (a terminal that repeats the original's STAN and date and time). Field 7 is required
//! on every 0100, 0200 and 0400, and must be a real date and time (February 29 is accepted):
//! without it, a message is a format error (30), never guessed.

use kassa_engine::Id;
use kassa_engine::constants::ISO_SETTLEMENT_ID_PREFIX;

use super::Message;

/// Length of field 7, `MMDDhhmmss`.
pub const TRANSMISSION_TIME_DIGITS: usize = 10;

/// Length of a STAN (field 11).
pub const STAN_DIGITS: usize = 6;

const DAY_MS: u64 = 86_400_000;

/// Whether `text` is a transmission date and time: `MMDDhhmmss`, ten digits of a real month and
/// day (February 29 included: field 7 has no year), an hour below 24 and minutes and seconds
/// below 60.
pub fn is_transmission_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != TRANSMISSION_TIME_DIGITS || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let pair = |at: usize| u32::from(bytes[at] - b'0') * 10 + u32::from(bytes[at + 1] - b'0');
    let (month, day, hour, minute, second) = (pair(0), pair(2), pair(4), pair(6), pair(8));
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 => 29,
        _ => return false,
    };
    (1..=days_in_month).contains(&day) && hour < 24 && minute < 60 && second < 60
}

/// Field 7 for a moment (milliseconds since the Unix epoch), in UTC: `MMDDhhmmss`.
pub fn transmission_time(unix_ms: u64) -> String {
    let (days, in_day) = (unix_ms / DAY_MS, (unix_ms % DAY_MS) / 1000);
    let (month, day) = month_and_day(days);
    format!("{month:02}{day:02}{:02}{:02}{:02}", in_day / 3600, in_day / 60 % 60, in_day % 60)
}

/// The month and day of the day `days` after 1970-01-01 (proleptic Gregorian calendar; Howard
/// Hinnant's `civil_from_days`).
fn month_and_day(days: u64) -> (u64, u64) {
    let shifted = days + 719_468; // days since 0000-03-01
    let of_era = shifted % 146_097;
    let year_of_era = (of_era - of_era / 1460 + of_era / 36_524 - of_era / 146_096) / 365;
    let day_of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    (month, day)
}

/// The settlement id of terminal + STAN + transmission date and time:
/// `iso:<terminal>:<STAN>:<MMDDhhmmss>`. `None` when the STAN is not 6 digits, the time is not
/// a transmission time, or the terminal has characters an id may not hold.
pub fn settlement_id(terminal: &str, stan: &str, transmitted: &str) -> Option<Id> {
    let stan_ok = stan.len() == STAN_DIGITS && stan.bytes().all(|byte| byte.is_ascii_digit());
    if !stan_ok || !is_transmission_time(transmitted) {
        return None;
    }
    Id::new(&format!("{ISO_SETTLEMENT_ID_PREFIX}{terminal}:{stan}:{transmitted}")).ok()
}

/// The STAN and field 7 of the settlement a 0400 reverses: field 90's when the 0400 carries
/// field 90, otherwise its own fields 11 and 7. `None` when they are missing or not valid.
pub fn reversal_original(reversal: &Message) -> Option<(&str, &str)> {
    let (stan, transmitted) = match reversal.get_str(90) {
        Some(original) => (original.get(4..10)?, original.get(10..20)?),
        None => (reversal.get_str(11)?, reversal.get_str(7)?),
    };
    let valid = stan.len() == STAN_DIGITS
        && stan.bytes().all(|byte| byte.is_ascii_digit())
        && is_transmission_time(transmitted);
    valid.then_some((stan, transmitted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmission_times_are_real_dates_and_times() {
        for valid in ["0101000000", "1231235959", "0229120000", "0430000000", "1125120000"] {
            assert!(is_transmission_time(valid), "{valid}");
        }
        for invalid in
            ["", "112512000", "11251200000", "0001000000", "1301000000", "0100000000", "0230000000", "0431000000"]
        {
            assert!(!is_transmission_time(invalid), "{invalid}");
        }
        for invalid in ["0101240000", "0101006000", "0101000060", "01010000a0", "01010000-1", "０101000000"] {
            assert!(!is_transmission_time(invalid), "{invalid}");
        }
    }

    #[test]
    fn transmission_time_of_a_moment_is_utc() {
        assert_eq!(transmission_time(0), "0101000000");
        // 2026-12-04T14:38:30.999Z
        assert_eq!(transmission_time(1_796_395_110_999), "1204143830");
        // 2024-02-29T23:59:59Z, then 2024-03-01T00:00:00Z
        assert_eq!(transmission_time(1_709_251_199_000), "0229235959");
        assert_eq!(transmission_time(1_709_251_200_000), "0301000000");
        // 2000-12-31T12:00:00Z (a leap year divisible by 400)
        assert_eq!(transmission_time(978_264_000_000), "1231120000");
        for day in 0..(400 * 366) {
            assert!(is_transmission_time(&transmission_time(day * DAY_MS + 45_296_000)), "day {day}");
        }
    }

    #[test]
    fn settlement_ids_are_terminal_stan_and_transmission_time() {
        let id = settlement_id("TERM0001", "000042", "1204143830").unwrap();
        assert_eq!(id.as_str(), "iso:TERM0001:000042:1204143830");
        assert_eq!(settlement_id("TERM0001", "42", "1204143830"), None);
        assert_eq!(settlement_id("TERM0001", "000042", "1304143830"), None);
        assert_eq!(settlement_id("TERM 001", "000042", "1204143830"), None);
    }

    #[test]
    fn a_reversal_names_its_original_by_field_90_else_by_its_own_fields() {
        let own = Message::new("0400").unwrap().with(11, "000007").with(7, "1204143830");
        assert_eq!(reversal_original(&own), Some(("000007", "1204143830")));
        let original = format!("0200{}{}{}", "000005", "1203101010", "0".repeat(22));
        let by_90 = own.clone().with(90, original);
        assert_eq!(reversal_original(&by_90), Some(("000005", "1203101010")));
        let zeros = own.clone().with(90, "0".repeat(42));
        assert_eq!(reversal_original(&zeros), None, "field 90 without a date and time");
        assert_eq!(reversal_original(&Message::new("0400").unwrap().with(11, "000007")), None, "no field 7");
    }
}
