//! Turning generated text into the two published caption styles: the rules every captioner's
//! output is held to (the in-process model's in `imgcap-models`, the text of the web app's
//! foreign-model providers), so both servers publish the same shapes.
//!
//! The concise caption is alt text: a screen reader already says "image", so it must not open
//! with "a picture of" (BLIP's favourite opening, and the prompt many people give it), and it
//! stays within 125 characters, the length screen readers and alt-text guides hold it to. The
//! creative caption comes from sampling, which can loop ("a dog on a bench. a dog on a bench.");
//! it keeps the first telling of a phrase only.

/// Words that must not end a caption ("a dog sitting on a").
const DANGLING: &[&str] = &[
    "a", "an", "the", "of", "with", "and", "or", "in", "on", "at", "to", "for", "by", "from",
    "into", "onto", "near", "next", "its", "their", "his", "her", "is", "are", "while", "under",
    "over", "above", "below", "behind", "beside", "between", "through", "across", "along",
    "around", "that", "which", "who",
];

/// The longest concise caption, in characters.
pub const CONCISE_MAX_CHARS: usize = 125;

/// Openings that name the medium instead of the content ("there is a dog" says "a dog").
const OPENINGS: &[&[&str]] = &[
    &["there", "is"],
    &["there", "are"],
    &["this", "is"],
    &["it", "is"],
];

/// Nouns of "a picture of …", "an image of …", "photo of …" openings.
const MEDIA: &[&str] = &[
    "picture",
    "image",
    "photo",
    "photograph",
    "photography",
    "pic",
    "snapshot",
];

/// The number of words in a phrase that must not be told twice in a creative caption.
const PHRASE_WORDS: usize = 3;

/// The longest stutter dropped in place ("cat cat", "with a with a"); a longer phrase said again
/// is sampling starting over, and the text ends there.
const ADJACENT_WORDS: usize = 2;

/// Fixes the spacing BERT-style decoding leaves ("dog ' s", "tree , and") and collapses runs of
/// whitespace.
fn tidy(text: &str) -> String {
    let mut out = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for (from, to) in [
        (" ' s ", "'s "),
        (" ' s", "'s"),
        (" ,", ","),
        (" .", "."),
        (" !", "!"),
        (" ?", "?"),
        (" ' ", "'"),
        (" - ", "-"),
    ] {
        out = out.replace(from, to);
    }
    out
}

/// A word as compared: lower case, without the punctuation around it.
fn bare(word: &str) -> String {
    word.trim_matches(|c: char| c.is_ascii_punctuation())
        .to_lowercase()
}

/// BLIP-large's stray token for "a" ("arafed man in a suit", "araffe view of a city"), a known
/// artefact of its training captions.
fn is_stray_article(word: &str) -> bool {
    let word = bare(word);
    (word.starts_with("ara") || word.starts_with("arra"))
        && word.contains('f')
        && word.len() <= 9
        && word.chars().all(|c| c.is_ascii_lowercase())
}

/// Drops the stray token: at the start it stood for the article, so "a"/"an" takes its place
/// unless an article follows anyway.
fn without_stray_articles(words: Vec<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        if !is_stray_article(word) {
            out.push((*word).to_owned());
            continue;
        }
        let next = words.get(i + 1).map(|w| bare(w)).unwrap_or_default();
        if out.is_empty() && !next.is_empty() && !matches!(next.as_str(), "a" | "an" | "the") {
            let vowel = next.starts_with(['a', 'e', 'i', 'o', 'u']);
            out.push(if vowel { "an" } else { "a" }.to_owned());
        }
    }
    out
}

/// How many leading words are a medium opening: `[a|an|the] <medium> of`, or one of
/// [`OPENINGS`].
fn opening_len(words: &[String]) -> usize {
    let bare_at = |i: usize| words.get(i).map(|w| bare(w)).unwrap_or_default();
    let article = usize::from(matches!(bare_at(0).as_str(), "a" | "an" | "the"));
    if MEDIA.contains(&bare_at(article).as_str()) && bare_at(article + 1) == "of" {
        return article + 2;
    }
    OPENINGS
        .iter()
        .find(|opening| opening.iter().enumerate().all(|(i, w)| bare_at(i) == *w))
        .map_or(0, |opening| opening.len())
}

/// "a dog that is sitting" says "a dog sitting" in two words fewer, and alt text is short. Only
/// before a participle: "a sign that is red" keeps its clause ("-ed" words of at least six
/// letters, so "red" and "tired" are not taken for one).
fn drop_relative_copulas(words: &mut Vec<String>) {
    let mut i = 1;
    while i + 2 < words.len() {
        let relative = matches!(bare(&words[i]).as_str(), "that" | "who" | "which");
        let copula = matches!(bare(&words[i + 1]).as_str(), "is" | "are");
        let next = &words[i + 2];
        let participle = next.chars().all(char::is_alphabetic)
            && (next.ends_with("ing") || (next.ends_with("ed") && next.len() >= 6));
        if relative && copula && participle {
            words.drain(i..i + 2);
        }
        i += 1;
    }
}

/// Removes trailing words that leave a clause hanging, and punctuation that ends on nothing.
fn trim_dangling(words: &mut Vec<String>) {
    while let Some(last) = words.last() {
        let word = bare(last);
        if word.is_empty() || DANGLING.contains(&word.as_str()) {
            words.pop();
        } else {
            break;
        }
    }
}

fn capitalize(sentence: &str) -> String {
    let mut chars = sentence.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Alt text: no medium opening, at most `max_words` words and [`CONCISE_MAX_CHARS`] characters,
/// cut at a word boundary, with no trailing article, preposition or conjunction and no final
/// punctuation; first letter capitalised.
pub fn concise(text: &str, max_words: usize) -> String {
    let tidied = tidy(text);
    let mut words = without_stray_articles(tidied.split(' ').filter(|w| !w.is_empty()).collect());
    // "this is a picture of a dog": each opening uncovers the next.
    loop {
        let skip = opening_len(&words);
        if skip == 0 || skip == words.len() {
            break;
        }
        words.drain(..skip);
    }
    drop_relative_copulas(&mut words);
    words.truncate(max_words);
    while words.len() > 1 && words.join(" ").chars().count() > CONCISE_MAX_CHARS {
        words.pop();
    }
    // Cutting inside a clause leaves its punctuation and joiners dangling.
    trim_dangling(&mut words);
    let joined = words.join(" ");
    let caption = capitalize(joined.trim_end_matches(['.', ',', ';', ':', '!', '?']));
    // One word longer than the limit (no provider writes one, but a limit is a limit).
    caption.chars().take(CONCISE_MAX_CHARS).collect()
}

/// The words with loops taken out: a stutter of up to [`ADJACENT_WORDS`] words is dropped
/// ("with a with a", "a dog. a dog."), and the text ends where a phrase of [`PHRASE_WORDS`]
/// words comes back, which is where sampling started over.
fn without_repeats(words: Vec<String>) -> Vec<String> {
    let keys: Vec<String> = words.iter().map(|w| bare(w)).collect();
    let mut kept: Vec<usize> = Vec::with_capacity(words.len());
    let mut i = 0;
    'words: while i < words.len() {
        for n in (1..=ADJACENT_WORDS.min(kept.len()).min(words.len() - i)).rev() {
            let previous = &kept[kept.len() - n..];
            if previous
                .iter()
                .zip(i..i + n)
                .all(|(&p, j)| keys[p] == keys[j])
            {
                i += n;
                continue 'words;
            }
        }
        kept.push(i);
        i += 1;
    }
    let mut seen = std::collections::HashSet::new();
    let mut end = kept.len();
    for start in 0..kept.len().saturating_sub(PHRASE_WORDS - 1) {
        let phrase: Vec<&str> = kept[start..start + PHRASE_WORDS]
            .iter()
            .map(|&k| keys[k].as_str())
            .collect();
        if phrase.iter().any(|w| w.is_empty()) {
            continue;
        }
        if !seen.insert(phrase) {
            end = start;
            break;
        }
    }
    let cut = end < kept.len();
    kept.truncate(end);
    let mut out: Vec<String> = kept.into_iter().map(|k| words[k].clone()).collect();
    // Only a cut leaves a clause hanging; an ending word like "below" is fine where the model
    // put it.
    if cut {
        trim_dangling(&mut out);
    }
    out
}

/// One or two full sentences, without a phrase told twice: each capitalised and ending with
/// punctuation.
pub fn creative(text: &str, max_sentences: usize) -> String {
    let tidied = tidy(text);
    let words = without_stray_articles(tidied.split(' ').filter(|w| !w.is_empty()).collect());
    let text = without_repeats(words).join(" ");
    let mut sentences = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        current.push(ch);
        if matches!(ch, '.' | '!' | '?') {
            sentences.push(std::mem::take(&mut current));
        }
    }
    if !current.trim().is_empty() {
        sentences.push(current);
    }
    sentences
        .iter()
        .map(|s| s.trim())
        .filter(|s| s.chars().any(char::is_alphanumeric))
        .take(max_sentences.max(1))
        .map(|s| {
            let s = s.trim_end_matches([',', ';', ':', '-']).trim();
            let s = capitalize(s);
            if s.ends_with(['.', '!', '?']) {
                s
            } else {
                format!("{s}.")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests;
