//! Durations on the command line (`--duration`, `--warmup`) as people write them: a number with
//! a unit (`500ms`, `10s`, `2m`, `1h`, `1m30s`, `1.5s`; humantime's syntax) or a plain number of
//! seconds (`10`, `0.5`).

use std::time::Duration;

/// What the flags accept, for error messages and `--help`.
pub const FORMS: &str = "a number of seconds (10, 0.5) or a number with a unit: 500ms, 10s, 2m, 1h, 1m30s";

/// Parses a duration: a plain number is seconds, anything else goes to humantime.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let plain = !text.is_empty()
        && text.bytes().all(|byte| byte.is_ascii_digit() || byte == b'.')
        && text.bytes().filter(|byte| *byte == b'.').count() <= 1
        && text.bytes().any(|byte| byte.is_ascii_digit());
    // humantime reads `0.5s` exactly (no floating point), so a plain number becomes `<number>s`.
    let with_unit = if plain { format!("{text}s") } else { text.to_string() };
    humantime::parse_duration(&with_unit).map_err(|error| format!("expected {FORMS} ({error})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_numbers_are_seconds() {
        assert_eq!(parse("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.25"), Ok(Duration::from_millis(1_250)));
        assert_eq!(parse(" 7 "), Ok(Duration::from_secs(7)));
        assert_eq!(parse("3600"), Ok(Duration::from_secs(3_600)));
    }

    #[test]
    fn units_as_people_write_them() {
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3_600)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1_500)));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
    }

    #[test]
    fn bad_input_names_the_accepted_forms() {
        for bad in ["10x", "", "s", "-1", "1..5", "ten", "10 s s", "1e3"] {
            let error = parse(bad).unwrap_err();
            assert!(
                error.starts_with("expected a number of seconds (10, 0.5) or a number with a unit"),
                "{bad}: {error}"
            );
        }
        assert!(parse("10x").unwrap_err().contains("unknown time unit \"x\""), "{}", parse("10x").unwrap_err());
    }
}
