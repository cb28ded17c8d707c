//! [`ModelAwareWeights`]: the weights of the `model-aware` policy and their `--score-weights`
//! spelling (`name=value,...`).

use std::fmt;
use std::str::FromStr;

/// Weights of [`super::ModelAware`]'s seven signals, seed 003's by default. Each is the most a
/// signal adds (bonuses) or takes away (penalties, given as positive magnitudes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelAwareWeights {
    /// Thermal bonus when the model is loaded in the node's engine memory ("hot"). 50.
    pub thermal_hot: f32,
    /// Thermal bonus when the model's weights are on the node's disk ("warm"). 30.
    pub thermal_warm: f32,
    /// Thermal bonus when the model is neither loaded nor on disk ("cold"). 10.
    pub thermal_cold: f32,
    /// Bonus for memory headroom: full when the model is loaded or free memory is at least
    /// twice its estimated size, none when it does not fit. 20.
    pub memory_fit: f32,
    /// Penalty for the requests in flight and queued on the node, full when they reach its
    /// `max_concurrent`. 30.
    pub queue_depth: f32,
    /// Penalty for the estimated wait (p75 latency × queued requests per slot), full at
    /// [`wait_full_s`](Self::wait_full_s). 25.
    pub wait: f32,
    /// Bonus for a large model on a node with memory to spare (full at twice the model's
    /// estimated size); small models get none. 15.
    pub role_affinity: f32,
    /// Bonus at 100 % recent availability (share of passed health checks). 10.
    pub availability: f32,
    /// Bonus when the model's loaded context window holds the request's estimated tokens
    /// (or its `num_ctx`). 15.
    pub context_fit: f32,
    /// Estimated wait in seconds at which the wait penalty is full. 30.
    pub wait_full_s: f32,
    /// Estimated model size in GB from which a model counts as large for role affinity. 30.
    pub large_model_gb: f32,
}

impl Default for ModelAwareWeights {
    fn default() -> Self {
        Self {
            thermal_hot: 50.0,
            thermal_warm: 30.0,
            thermal_cold: 10.0,
            memory_fit: 20.0,
            queue_depth: 30.0,
            wait: 25.0,
            role_affinity: 15.0,
            availability: 10.0,
            context_fit: 15.0,
            wait_full_s: 30.0,
            large_model_gb: 30.0,
        }
    }
}

/// The names `--score-weights` accepts, in `--help` order.
pub const WEIGHT_NAMES: [&str; 11] = [
    "thermal_hot",
    "thermal_warm",
    "thermal_cold",
    "memory_fit",
    "queue_depth",
    "wait",
    "role_affinity",
    "availability",
    "context_fit",
    "wait_full_s",
    "large_model_gb",
];

impl ModelAwareWeights {
    /// [`large_model_gb`](Self::large_model_gb) in MiB (0 when not positive).
    pub fn large_model_mb(&self) -> u64 {
        let mb = f64::from(self.large_model_gb) * 1e9 / (1024.0 * 1024.0);
        if mb.is_finite() && mb > 0.0 {
            mb as u64
        } else {
            0
        }
    }

    fn field(&mut self, name: &str) -> Option<&mut f32> {
        Some(match name {
            "thermal_hot" => &mut self.thermal_hot,
            "thermal_warm" => &mut self.thermal_warm,
            "thermal_cold" => &mut self.thermal_cold,
            "memory_fit" => &mut self.memory_fit,
            "queue_depth" => &mut self.queue_depth,
            "wait" => &mut self.wait,
            "role_affinity" => &mut self.role_affinity,
            "availability" => &mut self.availability,
            "context_fit" => &mut self.context_fit,
            "wait_full_s" => &mut self.wait_full_s,
            "large_model_gb" => &mut self.large_model_gb,
            _ => return None,
        })
    }

    fn values(&self) -> [f32; 11] {
        [
            self.thermal_hot,
            self.thermal_warm,
            self.thermal_cold,
            self.memory_fit,
            self.queue_depth,
            self.wait,
            self.role_affinity,
            self.availability,
            self.context_fit,
            self.wait_full_s,
            self.large_model_gb,
        ]
    }
}

/// A `--score-weights` value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad score weight {item:?}: {reason}")]
pub struct BadWeight {
    /// The `name=value` item at fault.
    pub item: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for ModelAwareWeights {
    type Err = BadWeight;

    /// Seed 003's defaults with the listed weights replaced: `name=value` items separated by
    /// commas (blanks ignored, names case-insensitive, `-` read as `_`), e.g.
    /// `thermal_hot=60,queue_depth=40`. An empty string keeps every default.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut weights = Self::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = |reason: String| BadWeight {
                item: item.to_owned(),
                reason,
            };
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| bad("expected name=value".into()))?;
            let name = name.trim().to_ascii_lowercase().replace('-', "_");
            let value: f32 = value
                .trim()
                .parse()
                .map_err(|_| bad("the value is not a number".into()))?;
            if !value.is_finite() || value < 0.0 {
                return Err(bad("weights are finite and not negative".into()));
            }
            *weights.field(&name).ok_or_else(|| {
                bad(format!(
                    "unknown weight; expected one of {}",
                    WEIGHT_NAMES.join(", ")
                ))
            })? = value;
        }
        Ok(weights)
    }
}

impl fmt::Display for ModelAwareWeights {
    /// The `--score-weights` spelling of every weight, parseable back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in WEIGHT_NAMES.iter().zip(self.values()).enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_seed_003s_and_round_trip() {
        let w = ModelAwareWeights::default();
        assert_eq!(
            (w.thermal_hot, w.thermal_warm, w.thermal_cold, w.memory_fit),
            (50.0, 30.0, 10.0, 20.0)
        );
        assert_eq!(
            (
                w.queue_depth,
                w.wait,
                w.role_affinity,
                w.availability,
                w.context_fit
            ),
            (30.0, 25.0, 15.0, 10.0, 15.0)
        );
        assert_eq!(w.to_string().parse::<ModelAwareWeights>().unwrap(), w);
        assert_eq!("".parse::<ModelAwareWeights>().unwrap(), w);
    }

    #[test]
    fn listed_weights_replace_defaults() {
        let w: ModelAwareWeights = " Thermal-Hot=60 , queue_depth=0".parse().unwrap();
        assert_eq!(w.thermal_hot, 60.0);
        assert_eq!(w.queue_depth, 0.0);
        assert_eq!(w.thermal_warm, 30.0);
    }

    #[test]
    fn bad_items_are_named() {
        for (input, needle) in [
            ("thermal", "name=value"),
            ("heat=3", "unknown weight"),
            ("wait=x", "not a number"),
            ("wait=-1", "not negative"),
            ("wait=inf", "finite"),
        ] {
            let e = input.parse::<ModelAwareWeights>().unwrap_err();
            assert!(e.to_string().contains(needle), "{input}: {e}");
        }
    }
}
