//! The placement policy: where copies may live, checked before any data moves.

use crate::config::{Config, Location};
use serde::Serialize;

/// Mean Earth radius used by the haversine formula, in km.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance in km (haversine).
pub fn distance_km(a: Location, b: Location) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The distance between two named storage locations.
#[derive(Clone, Debug, Serialize)]
pub struct PairDistance {
    /// First location ("home" or a site name).
    pub a: String,
    /// Second location.
    pub b: String,
    /// Great-circle distance.
    pub km: f64,
    /// Whether it meets `min_distance_km`.
    pub ok: bool,
}

/// The outcome of a policy check.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyReport {
    /// Every pair of storage locations, home included.
    pub pairs: Vec<PairDistance>,
    /// Each rule broken, in words that say how to fix it.
    pub violations: Vec<String>,
}

impl PolicyReport {
    /// True when no rule is broken.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks every rule of the configured policy against the configured sites.
pub fn check(config: &Config) -> PolicyReport {
    let policy = &config.policy;
    let mut places = vec![("home".to_string(), config.owner.home)];
    places.extend(config.sites.iter().map(|s| (s.name.clone(), s.location)));
    let pairs = all_pairs(&places, policy.min_distance_km);
    let mut violations: Vec<String> = pairs
        .iter()
        .filter(|p| !p.ok)
        .map(|p| {
            format!(
                "{} and {} are {:.1} km apart, less than the minimum {} km",
                p.a, p.b, p.km, policy.min_distance_km
            )
        })
        .collect();
    if config.sites.len() < policy.min_sites {
        violations.push(format!(
            "{} site(s) configured, the policy needs at least {} (add one with `chancery site add`)",
            config.sites.len(),
            policy.min_sites
        ));
    }
    if policy.require_foreign_site
        && !config.sites.iter().any(|s| s.jurisdiction != config.owner.jurisdiction)
    {
        violations.push(format!("no site outside the home jurisdiction {}", config.owner.jurisdiction));
    }
    for site in config.sites.iter().filter(|s| s.tier < policy.min_tier) {
        violations.push(format!(
            "site {} is tier {}, below the minimum tier {}",
            site.name, site.tier, policy.min_tier
        ));
    }
    PolicyReport { pairs, violations }
}

fn all_pairs(places: &[(String, Location)], min_km: f64) -> Vec<PairDistance> {
    let mut pairs = Vec::new();
    for (i, (a, la)) in places.iter().enumerate() {
        for (b, lb) in &places[i + 1..] {
            let km = distance_km(*la, *lb);
            pairs.push(PairDistance { a: a.clone(), b: b.clone(), km, ok: km >= min_km });
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{OwnerConfig, PolicyConfig, SiteConfig};

    const TALLINN: Location = Location { lat: 59.437, lon: 24.7536 };
    const LUXEMBOURG: Location = Location { lat: 49.6116, lon: 6.1319 };
    const TARTU: Location = Location { lat: 58.378, lon: 26.729 };

    fn site(name: &str, location: Location, jurisdiction: &str) -> SiteConfig {
        SiteConfig {
            name: name.into(),
            endpoint: crate::config::Endpoint::Dir { dir: "/x".into() },
            location,
            jurisdiction: jurisdiction.into(),
            tier: 3,
            upload_timeout_secs: 300,
            limit_upload_kib: None,
            limit_download_kib: None,
        }
    }

    fn config(sites: Vec<SiteConfig>) -> Config {
        Config {
            version: 1,
            owner: OwnerConfig {
                name: "ee".into(),
                home: TALLINN,
                jurisdiction: "EE".into(),
                public_key: String::new(),
                repo_id: String::new(),
                state_dir: ".chancery".into(),
            },
            policy: PolicyConfig::default(),
            sites,
        }
    }

    #[test]
    fn haversine_matches_known_distance() {
        let km = distance_km(TALLINN, LUXEMBOURG);
        assert!((km - 1_614.0).abs() < 5.0, "Tallinn-Luxembourg {km}");
        let paris = Location { lat: 48.8566, lon: 2.3522 };
        let london = Location { lat: 51.5074, lon: -0.1278 };
        assert!((distance_km(paris, london) - 343.5).abs() < 2.0, "the usual textbook figure");
        assert_eq!(distance_km(TALLINN, TALLINN), 0.0);
    }

    #[test]
    fn close_pair_and_missing_foreign_site_are_named() {
        let report = check(&config(vec![site("tartu", TARTU, "EE"), site("lux", LUXEMBOURG, "LU")]));
        assert!(report.ok(), "Tartu is ~165 km from Tallinn: {:?}", report.violations);
        let near = Location { lat: 59.40, lon: 24.70 };
        let report = check(&config(vec![site("near", near, "EE"), site("tartu", TARTU, "EE")]));
        assert!(report.violations.iter().any(|v| v.starts_with("home and near are")));
        assert!(report.violations.iter().any(|v| v.contains("outside the home jurisdiction")));
        let report = check(&config(vec![site("lux", LUXEMBOURG, "LU")]));
        assert!(report.violations.iter().any(|v| v.contains("needs at least 2")));
    }
}
