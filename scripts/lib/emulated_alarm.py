"""Stand-in for SageMaker's metrics and CloudWatch's alarm evaluation, for fire-alarms.sh --dry-run.

moto stores alarms and metric data but never evaluates an alarm, and its SageMaker endpoint
publishes no metrics. In the dry run, after each round of requests, this:

  1. publishes what the round observed (VALUE) as the alarm's own metric, with its namespace,
     name and dimensions, as SageMaker would (nothing is published without VALUE);
  2. evaluates the alarm like CloudWatch, on the data since SINCE (the round, instead of the
     alarm's 60 s periods): the alarm's statistic against its threshold with its comparison
     operator; no data counts as TreatMissingData says;
  3. sets the alarm's state to the result, with the reason, and prints it.

    python3 scripts/lib/emulated_alarm.py --alarm NAME --since EPOCH_SECONDS [--value V]
"""

from __future__ import annotations

import argparse
import datetime as dt
import operator
import sys

import boto3

COMPARE = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--alarm", required=True)
    p.add_argument("--since", type=float, required=True)
    p.add_argument("--value", type=float)
    args = p.parse_args()
    cw = boto3.client("cloudwatch")
    alarms = cw.describe_alarms(AlarmNames=[args.alarm])["MetricAlarms"]
    if not alarms:
        sys.exit(f"emulated_alarm: no alarm {args.alarm}")
    a = alarms[0]
    since = dt.datetime.fromtimestamp(args.since, dt.timezone.utc)
    if args.value is not None:
        cw.put_metric_data(Namespace=a["Namespace"], MetricData=[{
            "MetricName": a["MetricName"], "Dimensions": a["Dimensions"], "Value": args.value}])
    stats = cw.get_metric_statistics(
        Namespace=a["Namespace"], MetricName=a["MetricName"], Dimensions=a["Dimensions"],
        StartTime=since - dt.timedelta(seconds=1),
        EndTime=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1),
        Period=60, Statistics=[a["Statistic"]])["Datapoints"]
    if stats:
        value = sum(d[a["Statistic"]] for d in stats) / (len(stats) if a["Statistic"] == "Average" else 1)
        breaching = COMPARE[a["ComparisonOperator"]](value, a["Threshold"])
        reason = f"{a['Statistic']} of {a['MetricName']} = {value:g} (threshold {a['Threshold']:g})"
    else:
        breaching = a.get("TreatMissingData") == "breaching"
        reason = f"no {a['MetricName']} data (TreatMissingData {a.get('TreatMissingData')})"
    state = "ALARM" if breaching else "OK"
    cw.set_alarm_state(AlarmName=args.alarm, StateValue=state,
                       StateReason=f"dry-run stand-in for CloudWatch: {reason}")
    print(f"    stand-in evaluation of {args.alarm}: {reason} -> {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
