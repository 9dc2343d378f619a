//! Caption search latency on the embedded backend: 10,000 captioned images of one user (and
//! 1,000 of another, whose matches the search must skip) in a fresh SQLite database, written
//! through `CaptionRepo` so the FTS5 index is filled by its triggers as in the app; then 200
//! searches of mixed shapes (one common word, two and three words, prefixes, label words, rare
//! and absent words, a second page after a cursor), each a first page of 20 as the history page
//! asks for (21 rows). Prints p50, p95 and max, and whether p95 meets the 50 ms target.
//!
//! ```sh
//! cargo run --release -p imgcap-webapp --example search_latency
//! ```

use std::time::{Duration, Instant};

use imgcap_webapp::adapters::embedded::db::Db;
use imgcap_webapp::adapters::embedded::repo::SqliteRepo;
use imgcap_webapp::core::domain::{
    now_ms, CaptionResult, ImageId, ImageLabel, ImageRecord, ImageStatus, ScoredCaption, Sha256,
    UserId,
};
use imgcap_webapp::core::ports::CaptionRepo;
use imgcap_webapp::core::provenance::Provenance;
use imgcap_webapp::core::search::{SearchAfter, SearchQuery};

const IMAGES: usize = 10_000;
const OTHER_USERS_IMAGES: usize = 1_000;
const SEARCHES: usize = 200;
const PAGE: usize = 20;
const TARGET: Duration = Duration::from_millis(50);

const SUBJECTS: &[&str] = &[
    "dog",
    "cat",
    "child",
    "woman",
    "man",
    "bicycle",
    "car",
    "boat",
    "kite",
    "horse",
    "bird",
    "train",
    "bridge",
    "lighthouse",
    "mountain",
    "tree",
    "flower",
    "cake",
    "guitar",
    "rocket",
    "tent",
    "surfer",
    "market",
    "castle",
    "waterfall",
    "fox",
    "owl",
    "tram",
    "sandcastle",
    "windmill",
];
const ADJECTIVES: &[&str] = &[
    "red", "blue", "green", "small", "old", "young", "happy", "wooden", "snowy", "sunny", "golden",
    "quiet", "busy", "tall", "bright", "misty", "striped", "rusty",
];
const PLACES: &[&str] = &[
    "on a beach",
    "in a park",
    "by the river",
    "on a city street",
    "in the snow",
    "at the harbour",
    "in a kitchen",
    "on a mountain trail",
    "at night",
    "in a forest",
    "near a lake",
    "in the desert",
    "at a wedding",
    "on a farm",
];
const MOODS: &[&str] = &[
    "The light is soft and warm.",
    "Everything seems to hold its breath.",
    "A breeze carries the smell of salt.",
    "It feels like the start of a long summer.",
    "Rain is coming, but nobody minds.",
    "The colours glow against a pale sky.",
    "Laughter drifts from somewhere out of sight.",
];
const LABELS: &[&str] = &[
    "Animal", "Vehicle", "Nature", "Person", "Outdoors", "Water", "Building", "Food", "Sky",
    "Plant",
];

/// A small deterministic generator (xorshift64*), so every run searches the same library.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

fn captions(rng: &mut Rng) -> CaptionResult {
    let (adjective, subject, place) = (rng.pick(ADJECTIVES), rng.pick(SUBJECTS), rng.pick(PLACES));
    let (other, mood) = (rng.pick(SUBJECTS), rng.pick(MOODS));
    let labels = (0..1 + rng.next() % 4)
        .map(|_| ImageLabel {
            name: rng.pick(LABELS).to_owned(),
            confidence: 80.0 + (rng.next() % 20) as f32,
        })
        .collect();
    CaptionResult {
        concise: ScoredCaption {
            text: format!("a {adjective} {subject} {place}"),
            confidence: Some(-0.4),
        },
        creative: ScoredCaption {
            text: format!("A {adjective} {subject} waits {place} while a {other} looks on. {mood}"),
            confidence: Some(-1.1),
        },
        model: "Salesforce/blip-image-captioning-base".into(),
        provider: "embedded".into(),
        latency_ms: 900,
        labels,
    }
}

fn record(user: &UserId) -> ImageRecord {
    let id = ImageId::generate();
    let now = now_ms();
    ImageRecord {
        user: user.clone(),
        id,
        sha256: Sha256::of(&id.to_bytes()),
        status: ImageStatus::Pending,
        content_type: "image/jpeg",
        size_bytes: 120_000,
        width: 640,
        height: 480,
        orientation: 1,
        created_ms: now,
        updated_ms: now,
        expires_at: now / 1000 + 90 * 86_400,
        result: None,
        failure_reason: None,
        edits: None,
        provenance: Provenance::default(),
    }
}

async fn fill(repo: &SqliteRepo, user: &UserId, count: usize, rng: &mut Rng) {
    for _ in 0..count {
        let record = record(user);
        repo.insert_pending(&record).await.unwrap();
        // The provenance a real captioning stores, so the rows are their real size.
        let result = captions(rng);
        let provenance = Provenance::default().after_captioning(None, &result, now_ms());
        repo.complete(user, record.id, &result, &provenance)
            .await
            .unwrap();
    }
}

/// The query of search `i`: a mix of the shapes people type.
fn query_text(i: usize, rng: &mut Rng) -> String {
    match i % 8 {
        0 => rng.pick(SUBJECTS).to_owned(),
        1 => format!("{} {}", rng.pick(ADJECTIVES), rng.pick(SUBJECTS)),
        2 => format!("{} {} beach", rng.pick(ADJECTIVES), rng.pick(SUBJECTS)),
        3 => rng.pick(SUBJECTS)[..3].to_owned(),
        4 => rng.pick(LABELS).to_lowercase(),
        5 => format!("{} salt", rng.pick(SUBJECTS)),
        6 => "zeppelin".to_owned(),
        _ => rng.pick(ADJECTIVES).to_owned(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let repo = SqliteRepo::new(Db::open(&dir.path().join("imgcap.sqlite3")).unwrap());
    let user: UserId = "bench-user".parse().unwrap();
    let other: UserId = "someone-else".parse().unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let started = Instant::now();
    fill(&repo, &user, IMAGES, &mut rng).await;
    fill(&repo, &other, OTHER_USERS_IMAGES, &mut rng).await;
    println!(
        "wrote {IMAGES} captioned images of one user and {OTHER_USERS_IMAGES} of another in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut times = Vec::with_capacity(SEARCHES);
    let mut hits_total = 0;
    for i in 0..SEARCHES {
        let query = SearchQuery::parse(&query_text(i, &mut rng))
            .unwrap()
            .unwrap();
        // Every fourth search asks for the second page, after the first page's last hit.
        let after = if i % 4 == 3 {
            let first = repo.search(&user, &query, None, PAGE + 1).await.unwrap();
            first.get(PAGE - 1).map(|hit| SearchAfter {
                rank: hit.rank,
                id: hit.record.id,
            })
        } else {
            None
        };
        let start = Instant::now();
        let hits = repo.search(&user, &query, after, PAGE + 1).await.unwrap();
        times.push(start.elapsed());
        assert!(hits.iter().all(|hit| hit.record.user == user));
        hits_total += hits.len();
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p95 = percentile(&times, 0.95);
    println!(
        "{SEARCHES} searches ({hits_total} hits): p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        ms(percentile(&times, 0.50)),
        ms(p95),
        ms(*times.last().unwrap()),
    );
    println!(
        "target p95 <= {} ms: {}",
        TARGET.as_millis(),
        if p95 <= TARGET { "PASS" } else { "MISS" }
    );
}
