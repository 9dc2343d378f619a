#!/usr/bin/env python3
"""The promotion gates of scripts/promote-model.sh: may the candidate SageMaker variant replace
the primary one?

    promotion_gates.py --config scripts/promote-model.conf --report compare.json \
                       --endpoint imgcap-prod-captioner [--region eu-west-1] [--aws PATH]

Reads the `imgcap-inference eval compare --json` report (A = the primary's model, B = the
candidate's) and both variants' CloudWatch figures over the last `window_minutes`
(`aws cloudwatch get-metric-statistics`: Invocations, Invocation5XXErrors, p95 ModelLatency),
prints one line per gate and exits 0 when every gate passes, 1 when one fails, 2 on bad input.
A figure that is missing fails its gate: no data is never a pass.
"""
from __future__ import annotations

import argparse
import configparser
import datetime as dt
import json
import subprocess
import sys
from dataclasses import dataclass

VARIANTS = ("primary", "candidate")
GATE_KEYS = {
    "max_cider_drop": float,
    "max_p95_latency_increase_percent": float,
    "max_5xx_rate_increase_points": float,
    "min_invocations": int,
    "window_minutes": int,
}


class InputError(Exception):
    """A config, report or metric answer that cannot be used."""


@dataclass
class Gate:
    name: str
    passed: bool
    detail: str


def load_config(path: str) -> dict:
    parser = configparser.ConfigParser(inline_comment_prefixes=("#", ";"))
    if not parser.read(path):
        raise InputError(f"cannot read the gate config {path}")
    if "gates" not in parser:
        raise InputError(f"{path} has no [gates] section")
    section = parser["gates"]
    unknown = set(section) - set(GATE_KEYS)
    if unknown:
        raise InputError(f"{path}: unknown gate(s) {', '.join(sorted(unknown))}")
    gates = {}
    for key, kind in GATE_KEYS.items():
        if key not in section:
            raise InputError(f"{path}: gate {key} is not set")
        try:
            gates[key] = kind(section[key])
        except ValueError:
            raise InputError(f"{path}: {key} = {section[key]!r} is not a {kind.__name__}") from None
        if gates[key] < 0:
            raise InputError(f"{path}: {key} must not be negative")
    if gates["window_minutes"] < 1:
        raise InputError(f"{path}: window_minutes must be at least 1")
    return gates


def cider_delta(report: dict) -> float | None:
    """CIDEr-D of B (candidate) minus A (primary), or None when the report has no scores."""
    try:
        delta = report["figures"]["CIDEr-D"]["delta"]
    except (KeyError, TypeError):
        return None
    return float(delta) if isinstance(delta, (int, float)) else None


def evaluate(gates: dict, report: dict, metrics: dict) -> list[Gate]:
    """The gates over one compare report and both variants' figures.

    metrics: {"primary"|"candidate": {"invocations", "errors_5xx", "p95_latency_ms"}}, each
    figure a number or None (no data)."""
    out = []
    delta = cider_delta(report)
    if delta is None:
        out.append(Gate("cider", False, "the compare report has no CIDEr-D (run eval compare on a set with references)"))
    else:
        out.append(Gate("cider", delta >= -gates["max_cider_drop"],
                        f"CIDEr-D {delta:+.4f} (candidate - primary), lowest allowed -{gates['max_cider_drop']:.4f}"))

    for v in VARIANTS:
        n = metrics[v]["invocations"]
        if n is None:
            out.append(Gate(f"invocations:{v}", False, f"{v}: no Invocations data"))
        else:
            out.append(Gate(f"invocations:{v}", n >= gates["min_invocations"],
                            f"{v}: {n:.0f} invocations, at least {gates['min_invocations']} needed"))

    p, c = metrics["primary"]["p95_latency_ms"], metrics["candidate"]["p95_latency_ms"]
    if p is None or c is None or p <= 0:
        out.append(Gate("p95_latency", False, f"p95 ModelLatency missing (primary {p}, candidate {c})"))
    else:
        increase = (c - p) / p * 100
        out.append(Gate("p95_latency", increase <= gates["max_p95_latency_increase_percent"],
                        f"p95 ModelLatency {p:.1f} ms -> {c:.1f} ms ({increase:+.1f} %), "
                        f"at most +{gates['max_p95_latency_increase_percent']:g} % allowed"))

    rates = {}
    for v in VARIANTS:
        n, errors = metrics[v]["invocations"], metrics[v]["errors_5xx"]
        rates[v] = None if n is None or errors is None or n <= 0 else errors / n * 100
    if rates["primary"] is None or rates["candidate"] is None:
        out.append(Gate("5xx_rate", False, "Invocation5XXErrors or Invocations missing"))
    else:
        rise = rates["candidate"] - rates["primary"]
        out.append(Gate("5xx_rate", rise <= gates["max_5xx_rate_increase_points"],
                        f"5xx rate {rates['primary']:.2f} % -> {rates['candidate']:.2f} % ({rise:+.2f} points), "
                        f"at most +{gates['max_5xx_rate_increase_points']:g} points allowed"))
    return out


def cloudwatch_figure(aws: str, endpoint: str, variant: str, metric: str, statistic: str, window_minutes: int,
                      region: str | None, now: dt.datetime) -> float | None:
    """One figure of one variant over the window: the sum of Sum datapoints, or the highest p95
    (periods cannot be merged into one percentile; the highest is the cautious reading)."""
    start = now - dt.timedelta(minutes=window_minutes)
    cmd = [aws, "cloudwatch", "get-metric-statistics", "--namespace", "AWS/SageMaker",
           "--metric-name", metric,
           "--dimensions", f"Name=EndpointName,Value={endpoint}", f"Name=VariantName,Value={variant}",
           "--start-time", start.strftime("%Y-%m-%dT%H:%M:%SZ"), "--end-time", now.strftime("%Y-%m-%dT%H:%M:%SZ"),
           "--period", str(window_minutes * 60), "--output", "json"]
    cmd += ["--extended-statistics", "p95"] if statistic == "p95" else ["--statistics", statistic]
    if region:
        cmd += ["--region", region]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise InputError(f"aws cloudwatch get-metric-statistics {metric} {variant} failed: {result.stderr.strip()}")
    try:
        points = json.loads(result.stdout)["Datapoints"]
        values = [p["ExtendedStatistics"]["p95"] if statistic == "p95" else p[statistic] for p in points]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"unexpected answer for {metric} {variant}: {result.stdout[:200]!r}") from None
    if not values:
        return None
    return max(values) if statistic == "p95" else sum(values)


def fetch_metrics(aws: str, endpoint: str, window_minutes: int, region: str | None) -> dict:
    now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    out = {}
    for v in VARIANTS:
        latency_us = cloudwatch_figure(aws, endpoint, v, "ModelLatency", "p95", window_minutes, region, now)
        out[v] = {
            "invocations": cloudwatch_figure(aws, endpoint, v, "Invocations", "Sum", window_minutes, region, now),
            "errors_5xx": cloudwatch_figure(aws, endpoint, v, "Invocation5XXErrors", "Sum", window_minutes, region, now),
            # ModelLatency is reported in microseconds.
            "p95_latency_ms": None if latency_us is None else latency_us / 1000,
        }
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="gate config (INI, [gates] section)")
    parser.add_argument("--report", required=True, help="eval compare --json report (A primary, B candidate)")
    parser.add_argument("--endpoint", required=True, help="SageMaker endpoint name")
    parser.add_argument("--region", help="AWS region (default: the CLI's)")
    parser.add_argument("--aws", default="aws", help="the AWS CLI to run (default: aws on PATH)")
    args = parser.parse_args(argv)
    try:
        gates = load_config(args.config)
        try:
            with open(args.report) as f:
                report = json.load(f)
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read the compare report {args.report}: {e}") from None
        metrics = fetch_metrics(args.aws, args.endpoint, gates["window_minutes"], args.region)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"promotion gates for {args.endpoint}: primary {report.get('a')} vs candidate {report.get('b')}, "
          f"last {gates['window_minutes']} min")
    results = evaluate(gates, report, metrics)
    for g in results:
        print(f"  {'PASS' if g.passed else 'FAIL'}  {g.name:<22} {g.detail}")
    failed = [g.name for g in results if not g.passed]
    print("all gates pass: the candidate may be promoted" if not failed else f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
