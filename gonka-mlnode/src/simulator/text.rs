//! Deterministic token generation: a SplitMix64 sequence over a fixed word list. No allocation
//! per token: every token is a `&'static str`.

/// The simulator's vocabulary. Plain ASCII words: they never need JSON escaping.
pub(crate) const WORDS: &[&str] = &[
    "the",
    "model",
    "answers",
    "with",
    "simulated",
    "tokens",
    "from",
    "a",
    "fixed",
    "list",
    "of",
    "words",
    "that",
    "look",
    "like",
    "text",
    "inference",
    "network",
    "node",
    "gpu",
    "epoch",
    "proof",
    "compute",
    "stream",
    "latency",
    "batch",
    "engine",
    "server",
    "request",
    "reply",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "river",
    "mountain",
    "city",
    "light",
    "dark",
    "open",
    "close",
    "early",
    "late",
    "small",
    "large",
    "green",
    "blue",
    "red",
    "yellow",
    "north",
    "south",
    "east",
    "west",
    "time",
    "space",
    "data",
    "value",
    "signal",
    "noise",
];

/// SplitMix64: tiny, fast, good enough for picking words and fault draws.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose sequence depends only on `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform float in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The token sequence of one answer: token `i` is a word, with a leading space after the first.
#[derive(Debug, Clone)]
pub(crate) struct TokenStream {
    rng: SplitMix64,
    emitted: u32,
}

impl TokenStream {
    /// Tokens for `seed`; the same seed always gives the same tokens.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rng: SplitMix64::new(seed),
            emitted: 0,
        }
    }

    /// The next token as (leading space?, word).
    pub(crate) fn next_token(&mut self) -> (bool, &'static str) {
        let index = (self.rng.next_u64() % WORDS.len() as u64) as usize;
        let space = self.emitted > 0;
        self.emitted += 1;
        (space, WORDS.get(index).copied().unwrap_or("the"))
    }
}

/// The whole text of an answer of `tokens` tokens for `seed` (what a stream concatenates to).
pub(crate) fn full_text(seed: u64, tokens: u32) -> String {
    let mut stream = TokenStream::new(seed);
    let mut text = String::with_capacity(tokens as usize * 8);
    for _ in 0..tokens {
        let (space, word) = stream.next_token();
        if space {
            text.push(' ');
        }
        text.push_str(word);
    }
    text
}

/// A rough prompt token count: whitespace-separated words, at least one.
pub(crate) fn count_words(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count())
        .unwrap_or(u32::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_text_and_other_seed_differs() {
        assert_eq!(full_text(7, 20), full_text(7, 20));
        assert_ne!(full_text(7, 20), full_text(8, 20));
    }

    #[test]
    fn text_has_one_word_per_token() {
        assert_eq!(full_text(1, 12).split(' ').count(), 12);
        assert_eq!(full_text(1, 0), "");
    }

    #[test]
    fn floats_stay_in_unit_interval() {
        let mut rng = SplitMix64::new(3);
        for _ in 0..1000 {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
