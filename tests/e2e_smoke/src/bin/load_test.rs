//! `load_test`: N concurrent users against a running imgcap deployment over its REST API. Each
//! user uploads the photos of `tests/data/` in turn and polls every image until both captions
//! are stored (or captioning fails), then uploads the next, for a number of uploads or a
//! duration. Prints a readable summary on stderr and one JSON line on stdout; exits non-zero
//! when any request or caption failed.
//!
//! One API token per user (`--tokens-file`, one a line): the upload rate limit and the history
//! are per user. Every upload's bytes are distinct (a run/user/upload tag after the end of the
//! image, which the app accepts and strips) because the app answers a repeated upload of the
//! same bytes by the same user with the existing image instead of captioning it again.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Parser;
use imgcap_e2e_smoke::{check_captions, http_client, Api, PHOTOS};
use reqwest::Url;
use serde_json::json;

#[derive(Parser)]
#[command(version, about = "Load test of a running imgcap deployment")]
struct Args {
    /// Base URL of the web app, e.g. `http://127.0.0.1:8080`.
    #[arg(long, env = "IMGCAP_E2E_BASE_URL")]
    base_url: Url,
    /// API tokens, one a line, each of a different user reserved for load testing.
    #[arg(long)]
    tokens_file: PathBuf,
    /// Concurrent users (default: one per token in the file).
    #[arg(long)]
    users: Option<usize>,
    /// Uploads per user; each waits for the previous one's captions.
    #[arg(long, default_value_t = 5, conflicts_with = "duration_secs")]
    uploads_per_user: usize,
    /// Keep uploading for this long instead (the uploads under way then finish).
    #[arg(long)]
    duration_secs: Option<u64>,
    /// Interval between two polls of an image's status, in milliseconds.
    #[arg(long, default_value_t = 250)]
    poll_ms: u64,
    /// How long to wait for readiness, and for one image's captions, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Delete every user's data (`DELETE /api/v1/me`) after the measured run.
    #[arg(long)]
    cleanup: bool,
}

/// When a user stops starting new uploads.
#[derive(Clone, Copy)]
enum Plan {
    Uploads(usize),
    Until(Instant),
}

impl Plan {
    fn another(self, done: usize) -> bool {
        match self {
            Plan::Uploads(n) => done < n,
            Plan::Until(end) => Instant::now() < end,
        }
    }
}

#[derive(Default)]
struct Stats {
    uploads: usize,
    captioned: usize,
    upload_ms: Vec<u64>,
    caption_ms: Vec<u64>,
    errors: Vec<String>,
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

async fn user_run(api: Api, user: usize, plan: Plan, run_tag: u64, poll: Duration) -> Stats {
    let mut stats = Stats::default();
    let mut attempt = 0;
    while plan.another(attempt) {
        let (name, photo) = PHOTOS[(user + attempt) % PHOTOS.len()];
        let mut bytes = photo.to_vec();
        bytes.extend_from_slice(format!("imgcap-load-test {run_tag} {user} {attempt}").as_bytes());
        attempt += 1;

        let started = Instant::now();
        let uploaded = match api.upload(bytes).await {
            Ok(body) => body,
            Err(err) => {
                stats
                    .errors
                    .push(format!("user {user}: upload {name}: {err:#}"));
                // Do not hammer an app that is refusing uploads.
                tokio::time::sleep(poll).await;
                continue;
            }
        };
        stats.uploads += 1;
        stats.upload_ms.push(ms(started));

        let accepted = Instant::now();
        let status_url = uploaded["status_url"].as_str().unwrap_or_default();
        let captioned = api
            .wait_captions(status_url, poll)
            .await
            .and_then(|image| check_captions(&image));
        match captioned {
            Ok(_) => {
                stats.captioned += 1;
                stats.caption_ms.push(ms(accepted));
            }
            Err(err) => stats
                .errors
                .push(format!("user {user}: captions of {name}: {err:#}")),
        }
    }
    stats
}

/// Nearest-rank percentile of sorted values (0 when there are none).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn read_tokens(args: &Args) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(&args.tokens_file)
        .with_context(|| format!("cannot read {}", args.tokens_file.display()))?;
    let mut tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let users = args.users.unwrap_or(tokens.len());
    if users == 0 || users > tokens.len() {
        bail!(
            "{users} users asked for, {} tokens in {}",
            tokens.len(),
            args.tokens_file.display()
        );
    }
    tokens.truncate(users);
    Ok(tokens)
}

async fn run(args: Args) -> Result<bool> {
    let tokens = read_tokens(&args)?;
    let client = http_client();
    let timeout = Duration::from_secs(args.timeout_secs);
    let api_for = |token: String| Api {
        client: client.clone(),
        base: args.base_url.clone(),
        token,
        timeout,
    };
    api_for(tokens[0].clone())
        .wait_ready()
        .await
        .context("readiness")?;

    let users = tokens.len();
    let poll = Duration::from_millis(args.poll_ms);
    // Distinct across runs too, so a rerun with the same users is not deduplicated.
    let run_tag = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let started = Instant::now();
    let plan = match args.duration_secs {
        Some(secs) => Plan::Until(started + Duration::from_secs(secs)),
        None => Plan::Uploads(args.uploads_per_user),
    };
    eprintln!(
        "load test: {users} users against {}, {}",
        args.base_url,
        match plan {
            Plan::Uploads(n) => format!("{n} uploads each"),
            Plan::Until(_) => format!("for {} s", args.duration_secs.unwrap_or_default()),
        }
    );
    let tasks: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(user, token)| {
            tokio::spawn(user_run(api_for(token.clone()), user, plan, run_tag, poll))
        })
        .collect();
    let mut total = Stats::default();
    for task in tasks {
        let stats = task.await.context("a user task panicked")?;
        total.uploads += stats.uploads;
        total.captioned += stats.captioned;
        total.upload_ms.extend(stats.upload_ms);
        total.caption_ms.extend(stats.caption_ms);
        total.errors.extend(stats.errors);
    }
    let duration = started.elapsed().as_secs_f64();
    total.upload_ms.sort_unstable();
    total.caption_ms.sort_unstable();

    let report = json!({
        "users": users,
        "duration_s": (duration * 10.0).round() / 10.0,
        "uploads": total.uploads,
        "captioned": total.captioned,
        "throughput_per_s": (total.captioned as f64 / duration * 100.0).round() / 100.0,
        "upload_p50_ms": percentile(&total.upload_ms, 0.50),
        "upload_p95_ms": percentile(&total.upload_ms, 0.95),
        "caption_p50_ms": percentile(&total.caption_ms, 0.50),
        "caption_p95_ms": percentile(&total.caption_ms, 0.95),
        "errors": total.errors.len(),
    });
    eprintln!(
        "{} uploads, {} captioned in {duration:.1} s: {} captioned images/s\n\
         upload  p50 {} ms, p95 {} ms (POST /api/v1/images)\n\
         caption p50 {} ms, p95 {} ms (from the upload's answer to both captions seen, \
         polling every {} ms)\n\
         errors  {}",
        report["uploads"],
        report["captioned"],
        report["throughput_per_s"],
        report["upload_p50_ms"],
        report["upload_p95_ms"],
        report["caption_p50_ms"],
        report["caption_p95_ms"],
        args.poll_ms,
        report["errors"],
    );
    for error in total.errors.iter().take(10) {
        eprintln!("  {error}");
    }
    println!("{report}");

    if args.cleanup {
        for token in &tokens {
            api_for(token.clone())
                .delete_me()
                .await
                .context("cleanup")?;
        }
        eprintln!("cleanup: every user's data deleted");
    }
    Ok(total.errors.is_empty())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("load test: {err:#}");
            ExitCode::from(2)
        }
    }
}
