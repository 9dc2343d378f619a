//! n-gram counts of a tokenized caption, as the COCO scorers count them (1- to 4-grams of the
//! whitespace-split words).

use std::collections::BTreeMap;

/// The longest n-gram the metrics count.
pub const MAX_N: usize = 4;

/// Counts of each n-gram (its words joined by single spaces) for n = 1..=4; `by_n[n - 1]`.
#[derive(Debug, Clone, Default)]
pub struct NgramCounts {
    pub by_n: [BTreeMap<String, u32>; MAX_N],
}

impl NgramCounts {
    pub fn of(words: &[&str]) -> Self {
        let mut counts = Self::default();
        for n in 1..=MAX_N {
            for window in words.windows(n) {
                *counts.by_n[n - 1].entry(window.join(" ")).or_default() += 1;
            }
        }
        counts
    }

    /// Every n-gram with its order index (`n - 1`) and count.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &str, u32)> {
        self.by_n.iter().enumerate().flat_map(|(n, map)| {
            map.iter()
                .map(move |(gram, &count)| (n, gram.as_str(), count))
        })
    }
}
