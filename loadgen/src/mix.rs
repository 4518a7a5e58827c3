//! The scenario mix: which payment flows a run drives, and how often (`--mix transfers=70,pos=10`).

use std::fmt;
use std::str::FromStr;

use rand::Rng;

/// One payment flow, run start to end by one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    /// A transfer between two accounts.
    Transfers,
    /// A user authorizes an account (secure code), a terminal settles a purchase with the code.
    Pos,
    /// A hold is placed, then part of it captured or the whole voided.
    Holds,
    /// A bill is opened, items are added, it is submitted and the user confirms the challenge.
    Bills,
    /// A split is requested from a group; every member pays their share.
    Splits,
    /// A merchant issues a coupon, the holder shares it, a contact claims it and redeems it with
    /// a payment.
    Coupons,
}

impl Scenario {
    /// Every scenario, in the order reports list them.
    pub const ALL: [Scenario; 6] =
        [Scenario::Transfers, Scenario::Pos, Scenario::Holds, Scenario::Bills, Scenario::Splits, Scenario::Coupons];

    /// The name used by `--mix` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Transfers => "transfers",
            Scenario::Pos => "pos",
            Scenario::Holds => "holds",
            Scenario::Bills => "bills",
            Scenario::Splits => "splits",
            Scenario::Coupons => "coupons",
        }
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(text: &str) -> Result<Scenario, String> {
        Scenario::ALL.into_iter().find(|scenario| scenario.name() == text).ok_or_else(|| {
            let names: Vec<&str> = Scenario::ALL.iter().map(|scenario| scenario.name()).collect();
            format!("unknown scenario {text:?}: use {}", names.join(", "))
        })
    }
}

/// Scenarios with integer weights; each new scenario instance is drawn with probability
/// weight / total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    entries: Vec<(Scenario, u32)>,
    total: u64,
}

impl Default for Mix {
    /// `transfers=100`.
    fn default() -> Mix {
        Mix { entries: vec![(Scenario::Transfers, 100)], total: 100 }
    }
}

impl Mix {
    /// Whether the mix runs only flows between accounts (transfers and holds), which need no
    /// merchant when their commands are sent as such (not as ISO 8583 sales).
    pub fn only_between_accounts(&self) -> bool {
        self.entries.iter().all(|(scenario, _)| matches!(scenario, Scenario::Transfers | Scenario::Holds))
    }

    /// A mix of one scenario.
    pub fn only(scenario: Scenario) -> Mix {
        Mix { entries: vec![(scenario, 1)], total: 1 }
    }

    /// Draws the next scenario.
    pub fn pick(&self, rng: &mut impl Rng) -> Scenario {
        let mut ticket = rng.random_range(0..self.total);
        for (scenario, weight) in &self.entries {
            let weight = u64::from(*weight);
            if ticket < weight {
                return *scenario;
            }
            ticket -= weight;
        }
        unreachable!("the ticket is below the total of the weights")
    }

    /// Whether the scenario has a positive weight.
    pub fn contains(&self, scenario: Scenario) -> bool {
        self.weight(scenario) > 0
    }

    /// The scenario's weight (0 when absent).
    pub fn weight(&self, scenario: Scenario) -> u32 {
        self.entries.iter().find(|(entry, _)| *entry == scenario).map_or(0, |(_, weight)| *weight)
    }

    /// The sum of the weights (always positive).
    pub fn total(&self) -> u64 {
        self.total
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> =
            self.entries.iter().map(|(scenario, weight)| format!("{}={weight}", scenario.name())).collect();
        f.write_str(&parts.join(","))
    }
}

impl FromStr for Mix {
    type Err = String;
    /// `name=weight` pairs separated by commas (a bare `name` weighs 1). Weights are integers;
    /// zero weights are allowed as long as the total is positive.
    fn from_str(text: &str) -> Result<Mix, String> {
        let mut entries: Vec<(Scenario, u32)> = Vec::new();
        for part in text.split(',').map(str::trim) {
            if part.is_empty() {
                return Err(format!("empty entry in mix {text:?}"));
            }
            let (name, weight) = match part.split_once('=') {
                Some((name, weight)) => {
                    let weight: u32 = weight
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad weight {weight:?} for {name:?}: use a whole number"))?;
                    (name.trim(), weight)
                }
                None => (part, 1),
            };
            let scenario: Scenario = name.parse()?;
            if entries.iter().any(|(existing, _)| *existing == scenario) {
                return Err(format!("{name:?} appears twice in the mix"));
            }
            entries.push((scenario, weight));
        }
        let total: u64 = entries.iter().map(|(_, weight)| u64::from(*weight)).sum();
        if total == 0 {
            return Err("the mix's weights add up to 0".into());
        }
        entries.retain(|(_, weight)| *weight > 0);
        entries.sort_by_key(|(scenario, _)| *scenario);
        Ok(Mix { entries, total })
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    #[test]
    fn mixes_parse() {
        let mix: Mix = "transfers=70,pos=10,holds=10,bills=4,splits=3,coupons=3".parse().unwrap();
        assert_eq!(mix.total(), 100);
        assert_eq!(mix.weight(Scenario::Transfers), 70);
        assert_eq!(mix.weight(Scenario::Coupons), 3);
        assert_eq!(mix.to_string(), "transfers=70,pos=10,holds=10,bills=4,splits=3,coupons=3");
        let mix: Mix = " pos = 2 , transfers ".parse().unwrap();
        assert_eq!(mix.to_string(), "transfers=1,pos=2");
        let mix: Mix = "holds=0,bills=5".parse().unwrap();
        assert!(!mix.contains(Scenario::Holds) && mix.contains(Scenario::Bills));
        assert_eq!(Mix::default().to_string(), "transfers=100");
    }

    #[test]
    fn only_flows_between_accounts_need_no_merchant() {
        for (mix, between_accounts) in
            [("transfers=1", true), ("holds=1", true), ("transfers=9,holds=1", true), ("holds=1,pos=1", false)]
        {
            assert_eq!(mix.parse::<Mix>().unwrap().only_between_accounts(), between_accounts, "{mix}");
        }
    }

    #[test]
    fn bad_mixes_are_refused() {
        for bad in ["", "transfers=", "transfers=-1", "transfers=1.5", "loans=3", "pos=1,pos=2", "pos=0", "pos=1,,"] {
            assert!(bad.parse::<Mix>().is_err(), "{bad:?} parsed");
        }
        assert!("nope".parse::<Mix>().unwrap_err().contains("transfers, pos, holds, bills, splits, coupons"));
    }

    #[test]
    fn picks_follow_the_weights() {
        let mix: Mix = "transfers=70,pos=20,splits=10".parse().unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..100_000 {
            *counts.entry(mix.pick(&mut rng)).or_insert(0u32) += 1;
        }
        assert_eq!(counts.len(), 3, "{counts:?}");
        // Binomial standard deviations are below 150 here; allow far more.
        assert!(counts[&Scenario::Transfers].abs_diff(70_000) < 1_500, "{counts:?}");
        assert!(counts[&Scenario::Pos].abs_diff(20_000) < 1_500, "{counts:?}");
        assert!(counts[&Scenario::Splits].abs_diff(10_000) < 1_500, "{counts:?}");
        let only = Mix::only(Scenario::Bills);
        assert!((0..100).all(|_| only.pick(&mut rng) == Scenario::Bills));
    }
}
