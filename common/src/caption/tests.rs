use super::*;

/// Shapes of real BLIP (base and large) outputs, raw as decoded, and the caption published.
const CONCISE_TABLE: &[(&str, &str)] = &[
    (
        "a man riding a horse on a beach next to the ocean with a dog",
        "A man riding a horse on a beach",
    ),
    ("a cat laying on a bed", "A cat laying on a bed"),
    ("the dog ' s toy .", "The dog's toy"),
    (
        "a picture of a cat laying on a bed with a blanket",
        "A cat laying on a bed with a blanket",
    ),
    (
        "an image of a kitchen with a stove and a refrigerator",
        "A kitchen with a stove and a refrigerator",
    ),
    (
        "a photo of a man riding a surfboard on a wave",
        "A man riding a surfboard on a wave",
    ),
    (
        "a photography of a man riding a wave on top of a surfboard",
        "A man riding a wave on top of a surfboard",
    ),
    (
        "there is a dog that is sitting on the grass with a frisbee",
        "A dog sitting on the grass with a frisbee",
    ),
    (
        "there are two people who are walking on the beach",
        "Two people walking on the beach",
    ),
    (
        "a truck that is parked on the side of the road",
        "A truck parked on the side of the road",
    ),
    (
        "a sign that is red and white",
        "A sign that is red and white",
    ),
    (
        "there are two birds sitting on a branch of a tree",
        "Two birds sitting on a branch of a tree",
    ),
    ("this is a picture of a dog", "A dog"),
    (
        "arafed man in a suit and tie standing in front of a building",
        "A man in a suit and tie standing in front",
    ),
    (
        "araffe view of a city street with a clock tower",
        "A view of a city street with a clock tower",
    ),
    (
        "arafed old woman sitting on a bench",
        "An old woman sitting on a bench",
    ),
    (
        "a arafed dog running through a field",
        "A dog running through a field",
    ),
    // Content, not an opening: kept.
    (
        "a black and white photo of a man in a suit",
        "A black and white photo of a man",
    ),
    (
        "a close up of a plate of food with broccoli",
        "A close up of a plate of food with broccoli",
    ),
    // Nothing but an opening: better said than nothing.
    ("there is", "There"),
    ("  ", ""),
];

#[test]
fn concise_captions_of_real_blip_shapes() {
    for (raw, want) in CONCISE_TABLE {
        assert_eq!(concise(raw, 10), *want, "{raw:?}");
    }
}

#[test]
fn concise_captions_are_alt_text() {
    let long_words = "an extraordinarily photographically interesting multicoloured \
                      hot-air-balloon-festival panorama overlooking snow-capped mountains";
    for raw in CONCISE_TABLE
        .iter()
        .map(|(raw, _)| *raw)
        .chain([long_words])
    {
        let caption = concise(raw, 10);
        assert!(caption.chars().count() <= CONCISE_MAX_CHARS, "{caption:?}");
        assert!(caption.split(' ').count() <= 10, "{caption:?}");
        let lower = caption.to_lowercase();
        for opening in ["a picture of", "an image of", "a photo of", "arafed"] {
            assert!(!lower.starts_with(opening), "{caption:?}");
        }
        let last = lower.rsplit(' ').next().unwrap_or_default();
        assert!(
            caption.split(' ').count() == 1 || !DANGLING.contains(&last),
            "{caption:?}"
        );
    }
    let caption = concise(long_words, 10);
    assert!(caption.starts_with("An extraordinarily"), "{caption:?}");
    assert!(!caption.ends_with("overlooking"), "{caption:?}");
}

#[test]
fn a_single_overlong_word_is_cut_to_the_limit() {
    let caption = concise(&"x".repeat(300), 10);
    assert_eq!(caption.chars().count(), CONCISE_MAX_CHARS);
}

/// Shapes of BLIP's nucleus-sampled outputs, loops included.
const CREATIVE_TABLE: &[(&str, &str)] = &[
    ("a cat on a bed", "A cat on a bed."),
    (
        "a cat sleeps . it dreams of fish . then it wakes",
        "A cat sleeps. It dreams of fish.",
    ),
    ("an old clock ,", "An old clock."),
    (
        "a dog is sitting on a bench in a park . a dog is sitting on a bench in a park .",
        "A dog is sitting on a bench in a park.",
    ),
    (
        "a woman walking down the street with an umbrella with an umbrella with an umbrella",
        "A woman walking down the street with an umbrella.",
    ),
    (
        "the sun sets over the ocean , the sun sets over the ocean and the waves",
        "The sun sets over the ocean.",
    ),
    ("a cat cat sleeping on a sofa", "A cat sleeping on a sofa."),
    (
        "arafed man stands on a hill at dawn , watching the fog roll over the valley below",
        "A man stands on a hill at dawn, watching the fog roll over the valley below.",
    ),
    // Common short words told twice are not a loop.
    (
        "a dog plays in the snow . a child laughs in the sun .",
        "A dog plays in the snow. A child laughs in the sun.",
    ),
];

#[test]
fn creative_captions_of_real_blip_shapes() {
    for (raw, want) in CREATIVE_TABLE {
        assert_eq!(creative(raw, 2), *want, "{raw:?}");
    }
}

#[test]
fn creative_captions_tell_no_phrase_twice() {
    for (raw, _) in CREATIVE_TABLE {
        let caption = creative(raw, 2);
        let words: Vec<String> = caption.split(' ').map(bare).collect();
        let mut seen = std::collections::HashSet::new();
        for phrase in words.windows(PHRASE_WORDS) {
            assert!(
                seen.insert(phrase.to_vec()),
                "{caption:?} repeats {phrase:?}"
            );
        }
        for pair in words.windows(2) {
            assert_ne!(pair[0], pair[1], "{caption:?}");
        }
    }
}
