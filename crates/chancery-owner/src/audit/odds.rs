//! How likely an audit is to notice lost packs: sampling `n` of `P` packs without replacement
//! when `L` of them are lost misses every lost one with probability `C(P−L, n) / C(P, n)`
//! (hypergeometric), so it detects the loss with probability `1 − C(P−L, n) / C(P, n)`.

use serde::Serialize;

/// The odds an audit gives, for an assumed fraction of lost packs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Detection {
    /// The percentage of packs assumed lost.
    pub assumed_lost_percent: f64,
    /// The packs that makes: `L = ceil(P × percent / 100)`.
    pub assumed_lost_packs: usize,
    /// The packs sampled, `n`.
    pub samples: usize,
    /// The chance that `n` samples find at least one of `L` lost packs among `P`.
    pub probability: f64,
    /// The fewest samples that would give 95 % (`None` when nothing can be lost: no packs).
    pub samples_for_95: Option<usize>,
    /// The fewest samples that would give 99 %.
    pub samples_for_99: Option<usize>,
}

impl Detection {
    /// The odds of `samples` samples among `packs` packs, `percent` of them assumed lost.
    pub fn new(packs: usize, samples: usize, percent: f64) -> Self {
        let lost = lost_packs(packs, percent);
        Detection {
            assumed_lost_percent: percent,
            assumed_lost_packs: lost,
            samples,
            probability: detection_probability(packs, lost, samples),
            samples_for_95: samples_for(packs, lost, 0.95),
            samples_for_99: samples_for(packs, lost, 0.99),
        }
    }
}

/// `L = ceil(P × percent / 100)`, at most `P`. The product is nudged down by a relative 1e-9
/// so that a percentage meant to give a whole number of packs is not rounded up by binary
/// floating point (7 % of 100 is 7.000000000000001 in `f64`).
pub fn lost_packs(packs: usize, percent: f64) -> usize {
    let exact = packs as f64 * percent.clamp(0.0, 100.0) / 100.0;
    let lost = (exact - exact * 1e-9).ceil();
    (lost as usize).min(packs)
}

/// `1 − C(P−L, n) / C(P, n)`, computed as `1 − Π_{i<n} (P−L−i) / (P−i)` so that nothing
/// overflows; exactly 1 once `n > P − L` (a lost pack cannot be avoided any more).
pub fn detection_probability(packs: usize, lost: usize, samples: usize) -> f64 {
    let samples = samples.min(packs);
    if lost == 0 {
        return 0.0;
    }
    if samples > packs - lost.min(packs) {
        return 1.0;
    }
    1.0 - miss_chance(packs, lost, samples)
}

/// The chance that `samples` draws avoid every lost pack.
fn miss_chance(packs: usize, lost: usize, samples: usize) -> f64 {
    (0..samples).map(|i| (packs - lost - i) as f64 / (packs - i) as f64).product()
}

/// The fewest samples whose detection probability reaches `target`; `None` if no pack is lost.
pub fn samples_for(packs: usize, lost: usize, target: f64) -> Option<usize> {
    if lost == 0 {
        return None;
    }
    let mut miss = 1.0;
    for n in 1..=packs {
        let i = n - 1;
        miss *= packs.saturating_sub(lost + i) as f64 / (packs - i) as f64;
        if 1.0 - miss >= target - 1e-12 {
            return Some(n);
        }
    }
    Some(packs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// C(n, k) exactly, for small numbers.
    fn choose(n: u128, k: u128) -> u128 {
        if k > n {
            return 0;
        }
        (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
    }

    #[test]
    fn the_product_is_the_hypergeometric_formula() {
        for (p, l, n) in [(10, 1, 1), (10, 1, 5), (10, 3, 4), (20, 2, 7), (30, 5, 10), (12, 12, 1)] {
            let exact = 1.0 - choose(p - l, n) as f64 / choose(p, n) as f64;
            let got = detection_probability(p as usize, l as usize, n as usize);
            assert!((got - exact).abs() < 1e-12, "P={p} L={l} n={n}: {got} vs {exact}");
        }
    }

    #[test]
    fn simple_cases() {
        // One lost pack among 100: each sample finds it with 1/100, without replacement n/100.
        assert!((detection_probability(100, 1, 10) - 0.10).abs() < 1e-12);
        assert!((detection_probability(100, 1, 50) - 0.50).abs() < 1e-12);
        assert_eq!(detection_probability(100, 1, 100), 1.0);
        assert_eq!(detection_probability(100, 1, 500), 1.0);
        assert_eq!(detection_probability(100, 0, 100), 0.0);
        assert_eq!(detection_probability(0, 0, 10), 0.0);
        assert_eq!(detection_probability(100, 5, 0), 0.0);
        // Every pack but the lost ones drawn: the next draw must hit one.
        assert_eq!(detection_probability(10, 3, 8), 1.0);
    }

    #[test]
    fn lost_packs_round_up_and_not_from_float_noise() {
        assert_eq!(lost_packs(100, 1.0), 1);
        assert_eq!(lost_packs(100, 7.0), 7);
        assert_eq!(lost_packs(1000, 0.1), 1);
        assert_eq!(lost_packs(150, 1.0), 2);
        assert_eq!(lost_packs(5, 1.0), 1);
        assert_eq!(lost_packs(0, 1.0), 0);
        assert_eq!(lost_packs(10, 100.0), 10);
        assert_eq!(lost_packs(10, 0.0), 0);
    }

    #[test]
    fn samples_for_a_target_is_the_first_that_reaches_it() {
        for (p, l) in [(100, 1), (1000, 10), (10_000, 100), (57, 3)] {
            for target in [0.95, 0.99] {
                let n = samples_for(p, l, target).unwrap();
                assert!(detection_probability(p, l, n) >= target - 1e-12, "P={p} L={l} n={n}");
                assert!(detection_probability(p, l, n - 1) < target, "P={p} L={l}: {} is enough", n - 1);
            }
        }
        // One lost pack in 100 needs 95 of them for 95 %; 1 % of 10 000 needs ~300 samples.
        assert_eq!(samples_for(100, 1, 0.95), Some(95));
        assert!((290..=300).contains(&samples_for(10_000, 100, 0.95).unwrap()));
        assert_eq!(samples_for(100, 0, 0.95), None);
    }

    #[test]
    fn the_report_puts_it_together() {
        let d = Detection::new(200, 200, 1.0);
        assert_eq!((d.assumed_lost_packs, d.probability), (2, 1.0));
        assert_eq!(d.samples_for_99, samples_for(200, 2, 0.99));
        assert!(d.samples_for_95.unwrap() < d.samples_for_99.unwrap());
    }
}
