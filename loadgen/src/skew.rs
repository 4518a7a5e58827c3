//! Picking accounts: uniformly, or Zipf-skewed so that a few hot accounts take most commands.

use rand::Rng;
use rand_distr::{Distribution, Zipf};

/// How accounts are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Skew {
    /// Every account equally likely.
    Uniform,
    /// Zipf with exponent `s` (1.0 is classic; higher is hotter).
    Zipf(f64),
}

impl std::str::FromStr for Skew {
    type Err = String;
    fn from_str(text: &str) -> Result<Skew, String> {
        match text.split_once(':') {
            None if text == "uniform" => Ok(Skew::Uniform),
            Some(("zipf", exponent)) => {
                let exponent: f64 = exponent.parse().map_err(|_| format!("bad Zipf exponent {exponent:?}"))?;
                if exponent > 0.0 { Ok(Skew::Zipf(exponent)) } else { Err("the Zipf exponent must be positive".into()) }
            }
            _ => Err(format!("unknown skew {text:?}: use uniform or zipf:S (e.g. zipf:1.1)")),
        }
    }
}

/// Draws account indexes in `0..count` with a skew.
pub struct AccountPicker {
    count: usize,
    zipf: Option<Zipf<f64>>,
}

impl AccountPicker {
    /// A picker over `count` accounts (at least 2).
    pub fn new(count: usize, skew: Skew) -> AccountPicker {
        assert!(count >= 2, "at least two accounts");
        let zipf = match skew {
            Skew::Uniform => None,
            Skew::Zipf(exponent) => Some(Zipf::new(count as f64, exponent).expect("valid Zipf parameters")),
        };
        AccountPicker { count, zipf }
    }

    /// One account index.
    pub fn pick(&self, rng: &mut impl Rng) -> usize {
        match &self.zipf {
            None => rng.random_range(0..self.count),
            // Zipf yields ranks 1..=count; rank 1 is the hottest account.
            Some(zipf) => (zipf.sample(rng) as usize).clamp(1, self.count) - 1,
        }
    }

    /// Two distinct account indexes (payer, payee).
    pub fn pick_pair(&self, rng: &mut impl Rng) -> (usize, usize) {
        let from = self.pick(rng);
        loop {
            let to = self.pick(rng);
            if to != from {
                return (from, to);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn zipf_is_skewed_and_uniform_is_not() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut hot_share = |skew| {
            let picker = AccountPicker::new(1_000, skew);
            (0..10_000).filter(|_| picker.pick(&mut rng) < 10).count()
        };
        assert!(hot_share(Skew::Uniform) < 300);
        assert!(hot_share(Skew::Zipf(1.1)) > 3_000);
    }

    #[test]
    fn pairs_are_distinct_and_in_range() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let picker = AccountPicker::new(2, Skew::Zipf(2.0));
        for _ in 0..1_000 {
            let (from, to) = picker.pick_pair(&mut rng);
            assert!(from != to && from < 2 && to < 2);
        }
    }

    #[test]
    fn skews_parse() {
        assert_eq!("uniform".parse::<Skew>(), Ok(Skew::Uniform));
        assert_eq!("zipf:1.5".parse::<Skew>(), Ok(Skew::Zipf(1.5)));
        assert!("zipf:-1".parse::<Skew>().is_err());
        assert!("hot".parse::<Skew>().is_err());
    }
}
