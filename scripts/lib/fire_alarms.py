"""Fire the inference endpoint's alarms on purpose and watch them clear: behind scripts/fire-alarms.sh
(read its header for the options and what they do).

Rounds of requests carrying `imgcap-fault=...` in the SageMaker custom attributes go to the
endpoint (or to --invoke-url) until every alarm is in ALARM; then no more, until every alarm is
OK. With --dry-run, after each round the stand-in publishes what the round observed as the
alarm's metric (as SageMaker would) and evaluates the alarm (as CloudWatch would), because the
emulator does neither.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import math
import operator
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

BODY = Path(__file__).resolve().parents[2] / "tests" / "data" / "rocket.jpg"
METRIC = {"5xx": "Invocation5XXErrors", "slow": "ModelLatency"}
COMPARE = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
LOOPBACK = re.compile(r"^https?://(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?(/|$)")


class FireAlarms:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        config = Config(retries={"max_attempts": 5, "mode": "standard"})
        self.cw = boto3.client("cloudwatch", config=config)
        # One attempt per request: a retried 5xx would be counted by SageMaker twice.
        self.runtime = boto3.client("sagemaker-runtime", config=Config(
            retries={"max_attempts": 1, "mode": "standard"}, read_timeout=70))
        self.kind = args.fault.split(":")[0]
        self.alarms = self.find_alarms()
        self.fault = args.fault
        if self.fault == "slow":
            # 1.5 times the threshold (ModelLatency is in microseconds), below SageMaker's 60 s.
            threshold_ms = self.describe()[0]["Threshold"] / 1000
            self.fault = f"slow:{min(55_000, max(1, int(threshold_ms * 1.5)))}"

    def find_alarms(self) -> list[str]:
        if self.args.alarm_name:
            return self.args.alarm_name
        prefix = self.args.alarm_prefix or self.args.endpoint_name
        wanted = {"EndpointName": self.args.endpoint_name, "VariantName": self.args.variant}
        names = [a["AlarmName"]
                 for page in self.cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix)
                 for a in page["MetricAlarms"] if a["MetricName"] == METRIC[self.kind]
                 and {d["Name"]: d["Value"] for d in a["Dimensions"]} == wanted]
        if not names:
            sys.exit(f"fire-alarms: no alarm named {prefix}* on {METRIC[self.kind]} of variant "
                     f"{self.args.variant} of {self.args.endpoint_name}")
        return names

    def describe(self) -> list[dict]:
        found = self.cw.describe_alarms(AlarmNames=self.alarms)["MetricAlarms"]
        missing = set(self.alarms) - {a["AlarmName"] for a in found}
        if missing:
            sys.exit(f"fire-alarms: no alarm {', '.join(sorted(missing))}")
        return found

    # requests ----------------------------------------------------------------------------------
    def one_request(self, _: int) -> tuple[bool, float]:
        """(answered without error, seconds) for one request carrying the fault."""
        body = BODY.read_bytes()
        attributes = f"imgcap-fault={self.fault}"
        started = time.monotonic()
        try:
            if self.args.invoke_url:
                req = urllib.request.Request(self.args.invoke_url, data=body, method="POST", headers={
                    "Content-Type": "image/jpeg", "X-Amzn-SageMaker-Custom-Attributes": attributes})
                with urllib.request.urlopen(req, timeout=70) as r:
                    r.read()
            else:
                self.runtime.invoke_endpoint(EndpointName=self.args.endpoint_name, Body=body,
                                             ContentType="image/jpeg", CustomAttributes=attributes,
                                             TargetVariant=self.args.variant)
            ok = True
        except (urllib.error.URLError, OSError, ClientError, BotoCoreError):
            ok = False
        return ok, time.monotonic() - started

    def round(self) -> list[float]:
        """Sends --requests faulty requests, five at a time; the metric's values as SageMaker would
        report them: the count of 5xx answers, or each request's latency in microseconds."""
        if self.args.dry_run and not self.args.invoke_url:
            value = self.describe()[0]["Threshold"] + (0 if self.kind == "5xx" else 1)
            print(f"    SKIP requests: no --invoke-url in the dry run; the stand-in reports "
                  f"{METRIC[self.kind]}={value:.10g}", flush=True)
            return [value]
        with concurrent.futures.ThreadPoolExecutor(5) as pool:
            results = list(pool.map(self.one_request, range(self.args.requests)))
        errors = sum(1 for ok, _ in results if not ok)
        mean = sum(s for _, s in results) / len(results)
        print(f"    {len(results)} requests with imgcap-fault={self.fault}: {errors} answered an "
              f"error, mean {mean * 1000:.0f} ms", flush=True)
        if self.kind == "5xx":
            if not errors:
                sys.exit("fire-alarms: no request failed: is fault injection on "
                         "(IMGCAP_FAULT_INJECTION=1) in the endpoint's container?")
            return [float(errors)]
        if errors:
            sys.exit(f"fire-alarms: {errors} slow requests failed (a slow fault still answers)")
        return [seconds * 1_000_000 for _, seconds in results]

    # the dry run's stand-in for SageMaker's metrics and CloudWatch's evaluation ----------------
    def observed(self, a: dict, since: dt.datetime, values: list[float]) -> float | None:
        """The alarm's statistic over the data since `since`, None without data. moto computes
        no percentiles: a pNN statistic is taken over this round's values."""
        if a.get("ExtendedStatistic"):
            if not values:
                return None
            ranked = sorted(values)
            rank = float(a["ExtendedStatistic"].lstrip("p")) / 100 * len(ranked)
            return ranked[min(len(ranked) - 1, max(0, math.ceil(rank) - 1))]
        points = self.cw.get_metric_statistics(
            Namespace=a["Namespace"], MetricName=a["MetricName"], Dimensions=a["Dimensions"],
            StartTime=since, EndTime=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1),
            Period=60, Statistics=[a["Statistic"]])["Datapoints"]
        if not points:
            return None
        seen = [p[a["Statistic"]] for p in points]
        return sum(seen) / (len(seen) if a["Statistic"] == "Average" else 1)

    def stand_in(self, since: dt.datetime, values: list[float]) -> None:
        for a in self.describe():
            if values:
                self.cw.put_metric_data(Namespace=a["Namespace"], MetricData=[{
                    "MetricName": a["MetricName"], "Dimensions": a["Dimensions"], "Value": v}
                    for v in values])
            seen = self.observed(a, since, values)
            statistic = a.get("ExtendedStatistic") or a["Statistic"]
            if seen is not None:
                breaching = COMPARE[a["ComparisonOperator"]](seen, a["Threshold"])
                reason = (f"{statistic} of {a['MetricName']} = {seen:.10g} "
                          f"(threshold {a['Threshold']:.10g})")
            else:
                breaching = a.get("TreatMissingData") == "breaching"
                reason = f"no {a['MetricName']} data (TreatMissingData {a.get('TreatMissingData')})"
            state = "ALARM" if breaching else "OK"
            self.cw.set_alarm_state(AlarmName=a["AlarmName"], StateValue=state,
                                    StateReason=f"dry-run stand-in for CloudWatch: {reason}")
            print(f"    stand-in evaluation of {a['AlarmName']}: {reason} -> {state}", flush=True)

    # the run -----------------------------------------------------------------------------------
    def wait_for(self, want: str) -> bool:
        """Polls until every alarm is in `want`; sends a round of faults before each poll while
        waiting for ALARM."""
        started = time.monotonic()
        while True:
            since = dt.datetime.now(dt.timezone.utc)
            values = self.round() if want == "ALARM" else []
            if self.args.dry_run:
                self.stand_in(since, values)
            alarms = self.describe()
            elapsed = time.monotonic() - started
            for a in alarms:
                print(f"    t+{elapsed:.0f}s {a['AlarmName']}: {a['StateValue']}", flush=True)
            if all(a["StateValue"] == want for a in alarms):
                print(f"PASS  every alarm went to {want} after {elapsed:.0f} s", flush=True)
                for a in alarms:
                    print(f"    {a['AlarmName']}: {a.get('StateReason', '')}")
                return True
            if elapsed >= self.args.timeout:
                print(f"FAIL  not every alarm went to {want} within {self.args.timeout} s", flush=True)
                return False
            time.sleep(self.args.interval)

    def run(self) -> int:
        for a in self.describe():
            if a["StateValue"] == "ALARM":
                sys.exit(f"fire-alarms: {a['AlarmName']} is already in ALARM: find out why first")
        print(f"==> endpoint {self.args.endpoint_name}, fault imgcap-fault={self.fault}, alarms: "
              f"{' '.join(self.alarms)}", flush=True)
        print(f"==> sending faults until the alarms fire (every {self.args.interval} s, at most "
              f"{self.args.timeout} s)", flush=True)
        fired = self.wait_for("ALARM")
        print(f"==> faults stopped; waiting for the alarms to clear (at most {self.args.timeout} s)",
              flush=True)
        cleared = self.wait_for("OK")
        passed = int(fired) + int(cleared)
        print(f"fire-alarms: {passed} passed, {2 - passed} failed", flush=True)
        return 0 if passed == 2 else 1


def main() -> int:
    p = argparse.ArgumentParser(description="fire the endpoint's alarms, then watch them clear")
    p.add_argument("--endpoint-name", required=True)
    p.add_argument("--environment", default="", help="the environment's name (prod is guarded)")
    p.add_argument("--fault", default="5xx")
    p.add_argument("--alarm-name", action="append", default=[])
    p.add_argument("--alarm-prefix")
    p.add_argument("--variant", default="primary", help="the production variant to fail")
    p.add_argument("--requests", type=int, default=10)
    p.add_argument("--interval", type=float, default=20)
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--invoke-url")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--i-know-this-is-prod", action="store_true")
    args = p.parse_args()
    if not re.fullmatch(r"5xx|slow(:[1-9][0-9]{0,4})?", args.fault):
        p.error("--fault must be 5xx, slow or slow:<ms>")
    if not (1 <= args.requests <= 1000 and args.interval > 0 and args.timeout > 0):
        p.error("--requests must be 1 to 1000, --interval and --timeout positive")
    if args.dry_run:
        endpoint = boto3.client("cloudwatch").meta.endpoint_url
        if not LOOPBACK.match(endpoint):
            p.error(f"--dry-run runs against the emulator on loopback only, not {endpoint}")
        if args.invoke_url and not LOOPBACK.match(args.invoke_url):
            p.error("--dry-run sends requests to loopback only")
    if ("prod" in args.environment or "prod" in args.endpoint_name) and not args.i_know_this_is_prod:
        p.error(f"{args.endpoint_name} is prod: firing its alarms pages people and rolls back a "
                "deployment in progress; add --i-know-this-is-prod")
    return FireAlarms(args).run()


if __name__ == "__main__":
    sys.exit(main())
