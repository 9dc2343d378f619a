//! Turning generated text into the two published caption styles: the rules every captioner's
//! output is held to (the in-process model's in `imgcap-models`, the text of the web app's
//! foreign-model providers).

/// Words that must not end a concise caption ("a dog sitting on a").
const DANGLING: &[&str] = &[
    "a", "an", "the", "of", "with", "and", "or", "in", "on", "at", "to", "for", "by", "from",
    "into", "onto", "near", "next", "its", "their", "his", "her", "is", "are", "while", "under",
    "over", "above", "below", "behind", "beside", "between", "through", "across", "along",
    "around", "that", "which", "who",
];

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

fn capitalize(sentence: &str) -> String {
    let mut chars = sentence.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// At most `max_words` words, cut at a word boundary, with no trailing article, preposition or
/// conjunction and no final punctuation; first letter capitalised.
pub fn concise(text: &str, max_words: usize) -> String {
    let tidied = tidy(text);
    let mut words: Vec<&str> = tidied
        .split(' ')
        .filter(|w| !w.is_empty())
        .take(max_words)
        .collect();
    // Cutting inside a clause leaves its punctuation and joiners dangling.
    while let Some(last) = words.last() {
        let bare = last.trim_end_matches(|c: char| c.is_ascii_punctuation());
        if bare.is_empty() || DANGLING.contains(&bare.to_lowercase().as_str()) {
            words.pop();
        } else {
            break;
        }
    }
    let joined = words.join(" ");
    capitalize(joined.trim_end_matches(['.', ',', ';', ':', '!', '?']))
}

/// One or two full sentences: each capitalised and ending with punctuation.
pub fn creative(text: &str, max_sentences: usize) -> String {
    let tidied = tidy(text);
    let mut sentences = Vec::new();
    let mut current = String::new();
    for ch in tidied.chars() {
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
mod tests {
    use super::*;

    #[test]
    fn concise_cuts_at_ten_words_without_a_dangling_article() {
        let text = "a man riding a horse on a beach next to the ocean with a dog";
        let caption = concise(text, 10);
        assert_eq!(caption, "A man riding a horse on a beach");
        assert!(caption.split(' ').count() <= 10);
    }

    #[test]
    fn concise_keeps_short_captions_whole() {
        assert_eq!(
            concise("a cat laying on a bed", 10),
            "A cat laying on a bed"
        );
        assert_eq!(concise("the dog ' s toy .", 10), "The dog's toy");
        assert_eq!(concise("  ", 10), "");
    }

    #[test]
    fn creative_is_capitalised_punctuated_and_at_most_two_sentences() {
        assert_eq!(creative("a cat on a bed", 2), "A cat on a bed.");
        assert_eq!(
            creative("a cat sleeps . it dreams of fish . then it wakes", 2),
            "A cat sleeps. It dreams of fish."
        );
        assert_eq!(creative("an old clock ,", 2), "An old clock.");
    }
}
