//! `eval compare`: two checkpoints' runs of one set side by side: each metric and speed figure
//! with the difference, and the images whose captions differ most (by per-image CIDEr-D when
//! there are references, else by how many words the two captions do not share).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::run::Run;
use super::Scores;

/// A run and, when the set has references, its scores.
pub struct Side<'a> {
    pub run: &'a Run,
    pub scores: Option<&'a Scores>,
}

/// One image whose captions differ, most first.
pub struct Difference {
    pub image_id: String,
    pub a: String,
    pub b: String,
    /// CIDEr-D of B minus A, or the share of words not in common.
    pub gap: f64,
}

fn word_gap(a: &str, b: &str) -> f64 {
    let words = |s: &str| {
        s.split_whitespace()
            .map(str::to_lowercase)
            .collect::<BTreeSet<_>>()
    };
    let (a, b) = (words(a), words(b));
    let all = a.union(&b).count();
    if all == 0 {
        return 0.0;
    }
    1.0 - a.intersection(&b).count() as f64 / all as f64
}

/// The images whose captions differ, largest difference first, at most `limit`.
pub fn differences(a: &Side, b: &Side, limit: usize) -> Vec<Difference> {
    let mut out: Vec<Difference> = a
        .run
        .predictions
        .iter()
        .zip(&b.run.predictions)
        .enumerate()
        .filter(|(_, ((_, x), (_, y)))| x != y)
        .map(|(i, ((id, x), (_, y)))| {
            let gap = match (a.scores, b.scores) {
                (Some(sa), Some(sb)) => sb.per_image[i].cider - sa.per_image[i].cider,
                _ => word_gap(x, y),
            };
            Difference {
                image_id: id.clone(),
                a: x.clone(),
                b: y.clone(),
                gap,
            }
        })
        .collect();
    out.sort_by(|x, y| y.gap.abs().total_cmp(&x.gap.abs()));
    out.truncate(limit);
    out
}

/// `(name, A, B, decimals)` rows of the comparison.
fn rows(a: &Side, b: &Side) -> Vec<(&'static str, f64, f64, usize)> {
    let mut rows = Vec::new();
    if let (Some(sa), Some(sb)) = (a.scores, b.scores) {
        rows.extend([
            ("BLEU-1", sa.bleu_1, sb.bleu_1, 4),
            ("BLEU-4", sa.bleu_4, sb.bleu_4, 4),
            ("ROUGE-L", sa.rouge_l, sb.rouge_l, 4),
            ("CIDEr-D", sa.cider, sb.cider, 4),
        ]);
    }
    rows.extend([
        (
            "images/s",
            a.run.images_per_second(),
            b.run.images_per_second(),
            2,
        ),
        ("p50 ms", a.run.latency_ms(0.5), b.run.latency_ms(0.5), 1),
        ("p95 ms", a.run.latency_ms(0.95), b.run.latency_ms(0.95), 1),
    ]);
    rows
}

/// The report as JSON, for a promotion gate to read: each row's A, B and B − A (keys as in the
/// text report), the two models, and the differing captions.
pub fn json_report(a: &Side, b: &Side, differences: &[Difference]) -> serde_json::Value {
    let rows: serde_json::Map<String, serde_json::Value> = rows(a, b)
        .into_iter()
        .map(|(name, x, y, _)| {
            (
                name.to_owned(),
                serde_json::json!({"a": x, "b": y, "delta": y - x}),
            )
        })
        .collect();
    serde_json::json!({
        "a": a.run.model,
        "b": b.run.model,
        "images": a.run.predictions.len(),
        "figures": rows,
        "differences": differences
            .iter()
            .map(|d| serde_json::json!({"image_id": d.image_id, "a": d.a, "b": d.b, "gap": d.gap}))
            .collect::<Vec<_>>(),
    })
}

/// The plain-text report.
pub fn text_report(a: &Side, b: &Side, differences: &[Difference]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "A: {}\nB: {}\n", a.run.model, b.run.model);
    let _ = writeln!(out, "{:<10} {:>12} {:>12} {:>12}", "", "A", "B", "B - A");
    for (name, x, y, decimals) in rows(a, b) {
        let _ = writeln!(
            out,
            "{name:<10} {x:>12.decimals$} {y:>12.decimals$} {:>+12.decimals$}",
            y - x
        );
    }
    let _ = writeln!(out, "\nCaptions that differ most ({}):", differences.len());
    for d in differences {
        let _ = writeln!(
            out,
            "  {} ({:+.3})\n    A: {}\n    B: {}",
            d.image_id, d.gap, d.a, d.b
        );
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The same report as one self-contained HTML page.
pub fn html_report(a: &Side, b: &Side, differences: &[Difference]) -> String {
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>eval compare</title>\
         <style>body{font-family:sans-serif;margin:2rem}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}</style><body>",
    );
    let _ = write!(
        out,
        "<h1>eval compare</h1><p>A: {}<br>B: {}</p><table><tr><th></th><th>A</th><th>B</th><th>B − A</th></tr>",
        escape(&a.run.model),
        escape(&b.run.model)
    );
    for (name, x, y, decimals) in rows(a, b) {
        let _ = write!(
            out,
            "<tr><th>{name}</th><td>{x:.decimals$}</td><td>{y:.decimals$}</td><td>{:+.decimals$}</td></tr>",
            y - x
        );
    }
    out.push_str("</table><h2>Captions that differ most</h2><table><tr><th>image</th><th>A</th><th>B</th><th>gap</th></tr>");
    for d in differences {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:+.3}</td></tr>",
            escape(&d.image_id),
            escape(&d.a),
            escape(&d.b),
            d.gap
        );
    }
    out.push_str("</table></body></html>\n");
    out
}
