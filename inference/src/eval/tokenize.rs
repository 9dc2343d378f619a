//! Captions to the word sequences the COCO metrics compare, the way pycocoevalcap's PTB
//! tokenizer treats plain English captions, without its Java: lower case; punctuation split off
//! and dropped (`. , ! ? ; :`, quotes, brackets, dashes standing alone, `...`); clitics split the
//! Penn Treebank way (`dog's` → `dog 's`, `don't` → `do n't`, `can't` → `ca n't`); hyphenated
//! words, decimals and times kept whole (`hot-air`, `3.5`, `10:30`).
//!
//! What differs from Stanford's tokenizer: no abbreviation list (`st.` loses its dot), no
//! handling of URLs, e-mail addresses or emoticons, and other Unicode punctuation is dropped
//! rather than kept as a token. None of these occur in ordinary captions.

/// Clitics split off a word's end, longest first.
const CLITICS: [&str; 7] = ["n't", "'re", "'ve", "'ll", "'s", "'d", "'m"];

/// The caption's words, joined by single spaces.
pub fn tokenize(caption: &str) -> String {
    let lower = caption
        .to_lowercase()
        .replace(['\u{2019}', '\u{2018}'], "'");
    let chars: Vec<char> = lower.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, words: &mut Vec<String>| {
        let trimmed = word.trim_matches(|c| c == '\'' || c == '-');
        if !trimmed.is_empty() {
            words.extend(split_clitic(trimmed));
        }
        word.clear();
    };
    for (i, &c) in chars.iter().enumerate() {
        let between_digits = |i: usize| {
            i > 0
                && chars[i - 1].is_ascii_digit()
                && chars.get(i + 1).is_some_and(char::is_ascii_digit)
        };
        let keep = c.is_alphanumeric()
            || c == '\''
            || (c == '-'
                && !word.is_empty()
                && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric()))
            || ((c == '.' || c == ':' || c == ',') && between_digits(i));
        if keep {
            word.push(c);
        } else {
            flush(&mut word, &mut words);
        }
    }
    flush(&mut word, &mut words);
    words.join(" ")
}

fn split_clitic(word: &str) -> Vec<String> {
    for clitic in CLITICS {
        if let Some(stem) = word.strip_suffix(clitic) {
            if stem.is_empty() || stem.ends_with('\'') {
                break;
            }
            // "can't" → "ca n't", "won't" → "wo n't": the PTB splits before "n't".
            return vec![stem.to_owned(), clitic.to_owned()];
        }
    }
    vec![word.to_owned()]
}
