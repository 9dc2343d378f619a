//! The `eval run` and `eval compare` commands: load the checkpoints, caption the set, score,
//! print (and write) the reports.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use imgcap_models::source::{HubModel, ModelSource};
use imgcap_models::{parse_device, parse_dtype, Captioner, LoadOptions};

use super::compare::{differences, html_report, json_report, text_report, Side};
use super::run::{caption_set, Run};
use super::set::EvalSet;
use super::{examples, score, Scores};
use crate::config::{EvalCompareArgs, EvalRunArgs, EvalSetArgs};

fn open_set(args: &EvalSetArgs) -> anyhow::Result<EvalSet> {
    EvalSet::open(
        args.images.as_deref(),
        args.coco.as_deref(),
        args.references.as_deref(),
    )
}

async fn load(source: &ModelSource, args: &EvalSetArgs) -> anyhow::Result<Captioner> {
    let device = parse_device(&args.device)?;
    let options = LoadOptions {
        dtype: parse_dtype(&args.dtype, &device)?,
        device,
    };
    Captioner::load(source, &options)
        .await
        .with_context(|| format!("cannot load {source:?}"))
}

/// The run's scores against the set's references, when it has them.
fn scores_of(run: &Run, set: &EvalSet) -> anyhow::Result<Option<Scores>> {
    let Some(references) = &set.references else {
        return Ok(None);
    };
    let examples = examples(run.predictions.clone(), &run.model, references, false)?;
    Ok(Some(score(&examples)))
}

fn print_speed(run: &Run) {
    println!(
        "speed    {:.2} images/s, p50 {:.1} ms, p95 {:.1} ms ({} images, one at a time)",
        run.images_per_second(),
        run.latency_ms(0.5),
        run.latency_ms(0.95),
        run.predictions.len()
    );
}

pub async fn run(args: EvalRunArgs) -> anyhow::Result<ExitCode> {
    let set = open_set(&args.set)?;
    let captioner = load(&args.model.explicit(), &args.set).await?;
    let run = caption_set(&captioner, &set, args.set.caption)?;
    run.write_predictions(&args.out)?;
    println!("model    {}", run.model);
    println!("wrote    {}", args.out.display());
    if let Some(scores) = scores_of(&run, &set)? {
        scores.print_table(&mut std::io::stdout())?;
    }
    print_speed(&run);
    Ok(ExitCode::SUCCESS)
}

fn write_report(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// A directory when one exists at `spec`, else a hub id with an optional `@revision`.
fn source_of(spec: &str) -> ModelSource {
    let path = PathBuf::from(spec);
    if path.is_dir() {
        return ModelSource::Dir(path);
    }
    match spec.split_once('@') {
        Some((id, revision)) => ModelSource::Hub(HubModel::new(id).with_revision(revision)),
        None => ModelSource::Hub(HubModel::new(spec)),
    }
}

pub async fn compare(args: EvalCompareArgs) -> anyhow::Result<ExitCode> {
    let set = open_set(&args.set)?;
    let mut runs = Vec::with_capacity(2);
    for spec in [&args.a, &args.b] {
        // One checkpoint in memory at a time.
        let captioner = load(&source_of(spec), &args.set).await?;
        runs.push(caption_set(&captioner, &set, args.set.caption)?);
    }
    let scores: Vec<Option<Scores>> = runs
        .iter()
        .map(|run| scores_of(run, &set))
        .collect::<anyhow::Result<_>>()?;
    let a = Side {
        run: &runs[0],
        scores: scores[0].as_ref(),
    };
    let b = Side {
        run: &runs[1],
        scores: scores[1].as_ref(),
    };
    let differences = differences(&a, &b, args.top);
    print!("{}", text_report(&a, &b, &differences));
    if let Some(path) = &args.html {
        write_report(path, &html_report(&a, &b, &differences))?;
    }
    if let Some(path) = &args.json {
        let report = json_report(&a, &b, &differences);
        write_report(path, &serde_json::to_string_pretty(&report)?)?;
    }
    Ok(ExitCode::SUCCESS)
}
