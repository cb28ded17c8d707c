//! `model-aware`: seed 003's seven-signal scoring, which knows where a model is hot (loaded in
//! engine memory), warm (on the node's disk) or cold, how much memory a node has left and how
//! much context its loaded model holds.
//!
//! Nodes out of memory or under critical memory pressure, and nodes without the model, are
//! excluded before scoring by the one eligibility rule (`gonka_core::eligibility`); every other
//! eligible node is scored and the highest score wins (ties: the node listed first).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

use gonka_core::{
    is_candidate, NodeView, RequestInfo, Scheduler, SchedulerIndex, ScoreBreakdown, SignalScore,
};

use super::model_aware_weights::ModelAwareWeights;
use super::ScoreKey;

/// Signal names of [`ModelAware`]'s breakdown, in the order [`Scheduler::explain`] lists them.
pub const SIGNALS: [&str; 7] = [
    "thermal",
    "memory_fit",
    "queue_depth",
    "wait",
    "role_affinity",
    "availability",
    "context_fit",
];

/// What the scorer derives from a model's name once per request: its estimated weight size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelFacts {
    /// Estimated memory the model's weights take, in MiB; `None` when the name tells nothing.
    pub size_mb: Option<u64>,
}

impl ModelFacts {
    /// The facts of `model`, from its name ([`estimated_model_mb`]).
    pub fn of(model: &str) -> Self {
        Self {
            size_mb: estimated_model_mb(model),
        }
    }
}

/// The memory a model's weights take, estimated from its name: the parameter count it states
/// (`7B`, `32b`, `1.5B`, `135M`, `8x7B`) times the bytes per parameter its quantisation implies
/// (`fp8`/`int8`/`q8`: 1; `awq`/`gptq`/`int4`/`q4`: 0.55; otherwise 2, i.e. 16-bit weights).
/// `None` when the name states no parameter count.
pub fn estimated_model_mb(model: &str) -> Option<u64> {
    let name = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    let params = name
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .find_map(parameter_count)?;
    let has = |tags: &[&str]| tags.iter().any(|t| name.contains(t));
    let bytes_per_param = if has(&["fp8", "int8", "w8a8", "q8", "8bit"]) {
        1.0
    } else if has(&["awq", "gptq", "int4", "q4", "4bit", "w4a16", "bnb"]) {
        0.55
    } else {
        2.0
    };
    let mb = params * bytes_per_param * 1e9 / (1024.0 * 1024.0);
    (mb.is_finite() && mb >= 1.0).then_some(mb as u64)
}

/// Parameters stated by one token of a model name: `7b` → 7e9, `1.5b` → 1.5e9, `135m` →
/// 0.135e9, `8x7b` → 56e9 (in billions, as f64).
fn parameter_count(token: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = token.strip_suffix('b') {
        (n, 1.0)
    } else if let Some(n) = token.strip_suffix('m') {
        (n, 0.001)
    } else {
        return None;
    };
    let (experts, each) = match number.split_once('x') {
        Some((e, n)) => (e.parse::<f64>().ok()?, n),
        None => (1.0, number),
    };
    if each.is_empty() || !each.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let n: f64 = each.parse().ok()?;
    (n > 0.0).then_some(experts * n * scale)
}

/// Scores eligible nodes with the seven signals of seed 003 (see [`SIGNALS`] and
/// [`ModelAwareWeights`]) and picks the highest score; ties go to the node listed first.
///
/// `pick` scores every eligible node (O(n)); [`Scheduler::index`] gives an index that answers
/// the same pick in O(log n) per distinct loaded context length of the model, which the
/// gateway's pool uses.
#[derive(Debug, Default, Clone)]
pub struct ModelAware {
    /// The weights used.
    pub weights: ModelAwareWeights,
}

impl ModelAware {
    /// A scorer with these weights.
    pub fn new(weights: ModelAwareWeights) -> Self {
        Self { weights }
    }

    /// The score of `node` for `request` (higher is better). Pure; exposed for tests.
    pub fn score(&self, request: &RequestInfo, node: &NodeView) -> f32 {
        let facts = ModelFacts::of(&request.model);
        total(
            &self.weights,
            &request.model,
            facts,
            node,
            request.prompt_tokens,
        )
    }
}

/// A value that never poisons a sum: NaN and infinities count as 0.
fn finite(v: f32) -> f32 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

/// The six request-size-independent signals of `node` for `model`, in [`SIGNALS`] order
/// (context fit excluded).
fn base_signals(
    w: &ModelAwareWeights,
    model: &str,
    facts: ModelFacts,
    node: &NodeView,
) -> [f32; 6] {
    let hot = node.loaded.iter().any(|l| &*l.name == model);
    let warm = !hot && node.disk_models.iter().any(|m| &**m == model);
    let thermal = if hot {
        w.thermal_hot
    } else if warm {
        w.thermal_warm
    } else {
        w.thermal_cold
    };
    let memory_fit = if hot {
        w.memory_fit
    } else {
        match (node.memory_free_mb, facts.size_mb, node.memory_total_mb) {
            (Some(free), Some(size), _) if size > 0 => {
                let headroom = (free as f64 - size as f64) / size as f64;
                w.memory_fit * headroom.clamp(0.0, 1.0) as f32
            }
            (Some(free), None, Some(total)) if total > 0 => {
                w.memory_fit * (free as f64 / total as f64).clamp(0.0, 1.0) as f32
            }
            _ => 0.0,
        }
    };
    let slots = node.max_concurrent.max(1) as f32;
    let pending = node.in_flight as f32 + node.queue_depth as f32;
    let queue = -w.queue_depth * (pending / slots).min(1.0);
    let p75_s = [
        node.latency_p75_ms,
        node.latency_p95_ms,
        node.latency_p50_ms,
    ]
    .into_iter()
    .find(|&ms| ms > 0.0)
    .unwrap_or(0.0)
        / 1000.0;
    let estimated_wait_s = p75_s * pending / slots;
    let wait = if w.wait_full_s > 0.0 {
        -w.wait * (estimated_wait_s / w.wait_full_s).min(1.0)
    } else {
        0.0
    };
    let role_affinity = match (facts.size_mb, node.memory_total_mb.or(node.vram_mb)) {
        (Some(size), Some(memory)) if size >= w.large_model_mb() && size > 0 => {
            w.role_affinity * (memory as f64 / (2.0 * size as f64)).clamp(0.0, 1.0) as f32
        }
        _ => 0.0,
    };
    let availability = w.availability * node.availability.clamp(0.0, 1.0);
    [
        finite(thermal),
        finite(memory_fit),
        finite(queue),
        finite(wait),
        finite(role_affinity),
        finite(availability),
    ]
}

/// The loaded context window of `model` on `node` in tokens (0 when not loaded or unknown).
fn loaded_context(node: &NodeView, model: &str) -> u32 {
    node.loaded
        .iter()
        .find(|l| &*l.name == model)
        .map_or(0, |l| l.context_length)
}

/// Whether a loaded context of `context` tokens holds a request of `prompt_tokens`.
fn context_fits(context: u32, prompt_tokens: u32) -> bool {
    context > 0 && context >= prompt_tokens
}

/// The context-fit signal for a node whose loaded context is `context`.
fn context_signal(w: &ModelAwareWeights, context: u32, prompt_tokens: u32) -> f32 {
    if context_fits(context, prompt_tokens) {
        finite(w.context_fit)
    } else {
        0.0
    }
}

/// The sum of the six base signals, added in one fixed order (so the scan and the index get
/// bit-identical values).
fn base(w: &ModelAwareWeights, model: &str, facts: ModelFacts, node: &NodeView) -> f32 {
    base_signals(w, model, facts, node).iter().sum()
}

/// The total score: [`base`] plus the context-fit signal.
fn total(
    w: &ModelAwareWeights,
    model: &str,
    facts: ModelFacts,
    node: &NodeView,
    prompt_tokens: u32,
) -> f32 {
    base(w, model, facts, node) + context_signal(w, loaded_context(node, model), prompt_tokens)
}

impl Scheduler for ModelAware {
    fn name(&self) -> &'static str {
        "model-aware"
    }

    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize> {
        let facts = ModelFacts::of(&request.model);
        let mut best: Option<(usize, ScoreKey)> = None;
        for (i, node) in nodes.iter().enumerate() {
            if !node.eligible(request) {
                continue;
            }
            let score = total(
                &self.weights,
                &request.model,
                facts,
                node,
                request.prompt_tokens,
            );
            let key = ScoreKey::new(score);
            if best.is_none_or(|(_, b)| key < b) {
                best = Some((i, key));
            }
        }
        best.map(|(i, _)| i)
    }

    fn explain(&self, request: &RequestInfo, node: &NodeView) -> Option<ScoreBreakdown> {
        let facts = ModelFacts::of(&request.model);
        let base = base_signals(&self.weights, &request.model, facts, node);
        let context = context_signal(
            &self.weights,
            loaded_context(node, &request.model),
            request.prompt_tokens,
        );
        let parts = [
            base[0], base[1], base[2], base[3], base[4], base[5], context,
        ];
        Some(ScoreBreakdown {
            total: total(
                &self.weights,
                &request.model,
                facts,
                node,
                request.prompt_tokens,
            ),
            signals: SIGNALS
                .iter()
                .zip(parts)
                .map(|(&signal, value)| SignalScore { signal, value })
                .collect(),
        })
    }

    fn index(&self) -> Option<Box<dyn SchedulerIndex>> {
        Some(Box::new(ModelAwareIndex::new(self.weights)))
    }
}

/// Where one position is filed for one model: its loaded context group and base key.
#[derive(Debug, Clone)]
struct Filing {
    model: Arc<str>,
    context: u32,
    key: ScoreKey,
    base: f32,
}

/// The nodes of one model, grouped by the context length they have it loaded with (0: not
/// loaded or unknown), each group ordered by `(base score descending, position)`.
type Groups = BTreeMap<u32, BTreeSet<(ScoreKey, usize, u32)>>;

/// [`ModelAware`]'s incremental index. Every candidate node ([`is_candidate`]) is filed under
/// each model it serves, in the group of its loaded context for that model, keyed by its base
/// score (every signal but context fit, which depends on the request's size). A pick takes, in
/// every group, the best eligible node (its score is its base plus the group's context-fit
/// value for the request) and returns the best of those, ties to the lower position: exactly
/// what the scan returns, in O(groups × log n).
pub struct ModelAwareIndex {
    weights: ModelAwareWeights,
    facts: HashMap<Arc<str>, ModelFacts>,
    by_model: HashMap<Arc<str>, Groups>,
    filed: Vec<Vec<Filing>>,
}

impl fmt::Debug for ModelAwareIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelAwareIndex")
            .field("models", &self.by_model.len())
            .field("positions", &self.filed.len())
            .finish()
    }
}

impl ModelAwareIndex {
    /// An empty index scoring with `weights`.
    pub fn new(weights: ModelAwareWeights) -> Self {
        Self {
            weights,
            facts: HashMap::new(),
            by_model: HashMap::new(),
            filed: Vec::new(),
        }
    }

    fn unfile(&mut self, position: usize) {
        let Some(filings) = self.filed.get_mut(position).map(std::mem::take) else {
            return;
        };
        for f in filings {
            if let Some(groups) = self.by_model.get_mut(&f.model) {
                if let Some(set) = groups.get_mut(&f.context) {
                    set.remove(&(f.key, position, f.base.to_bits()));
                    if set.is_empty() {
                        groups.remove(&f.context);
                    }
                }
                if groups.is_empty() {
                    self.by_model.remove(&f.model);
                }
            }
        }
    }

    fn file(&mut self, position: usize, view: &NodeView) {
        if self.filed.len() <= position {
            self.filed.resize_with(position + 1, Vec::new);
        }
        if !is_candidate(view) {
            return;
        }
        let mut filings = Vec::with_capacity(view.models.len());
        for model in view.models.iter() {
            if filings.iter().any(|f: &Filing| f.model == *model) {
                continue;
            }
            let facts = *self
                .facts
                .entry(Arc::clone(model))
                .or_insert_with(|| ModelFacts::of(model));
            let base = base(&self.weights, model, facts, view);
            let filing = Filing {
                model: Arc::clone(model),
                context: loaded_context(view, model),
                key: ScoreKey::new(base),
                base,
            };
            self.by_model
                .entry(Arc::clone(model))
                .or_default()
                .entry(filing.context)
                .or_default()
                .insert((filing.key, position, base.to_bits()));
            filings.push(filing);
        }
        self.filed[position] = filings;
    }
}

impl SchedulerIndex for ModelAwareIndex {
    fn update(&mut self, position: usize, view: &NodeView) {
        self.unfile(position);
        self.file(position, view);
    }

    fn swap_remove(&mut self, position: usize, len: usize) {
        self.unfile(position);
        let last = len.saturating_sub(1);
        if position < last {
            let moved = self
                .filed
                .get_mut(last)
                .map(std::mem::take)
                .unwrap_or_default();
            for f in &moved {
                if let Some(set) = self
                    .by_model
                    .get_mut(&f.model)
                    .and_then(|groups| groups.get_mut(&f.context))
                {
                    set.remove(&(f.key, last, f.base.to_bits()));
                    set.insert((f.key, position, f.base.to_bits()));
                }
            }
            if let Some(slot) = self.filed.get_mut(position) {
                *slot = moved;
            }
        }
        self.filed.truncate(last);
    }

    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize> {
        let groups = self.by_model.get(request.model.as_str())?;
        let mut best: Option<(ScoreKey, usize)> = None;
        for (&context, set) in groups {
            let bonus = context_signal(&self.weights, context, request.prompt_tokens);
            // The group's best eligible node: the first eligible in base order, then the first
            // eligible of each lower base whose total rounds to the same value (it may sit at a
            // lower position). Entries of one base are in position order, so after an eligible
            // one the rest of its base is skipped.
            let mut group_best: Option<(ScoreKey, usize)> = None;
            let mut from = Bound::Unbounded;
            'walk: loop {
                let mut next = None;
                for &(base_key, position, bits) in set.range((from, Bound::Unbounded)) {
                    let key = ScoreKey::new(f32::from_bits(bits) + bonus);
                    if group_best.is_some_and(|found| key > found.0) {
                        break 'walk;
                    }
                    if !nodes.get(position).is_some_and(|v| v.eligible(request)) {
                        continue;
                    }
                    if group_best.is_none_or(|found| (key, position) < found) {
                        group_best = Some((key, position));
                    }
                    next = Some(Bound::Excluded((base_key, usize::MAX, u32::MAX)));
                    break;
                }
                match next {
                    Some(bound) => from = bound,
                    None => break,
                }
            }
            if let Some(candidate) = group_best {
                if best.is_none_or(|b| candidate < b) {
                    best = Some(candidate);
                }
            }
        }
        best.map(|(_, position)| position)
    }
}

#[cfg(test)]
mod tests;
