#!/usr/bin/env python3
"""Check docs/iam/*.json, the single source of truth of the roles' permissions:

- each file is a valid IAM policy (JSON, Version, Effect, Action, Resource), every statement has
  a unique Sid (Terraform switches optional features off by Sid) and only known ${placeholders};
- no wildcard actions, except a whole service ("iam:*") in a Deny; "Resource": "*" only in
  Deny statements and in the statements listed with a reason in WILDCARD_RESOURCE_EXCEPTIONS
  (iam_policies.py);
- with policy_sentry's IAM database (installed with checkov): every action (and every service
  a Deny names whole) exists, and every action in an Allow on "*" really has no resource-level
  permissions in AWS;
- each document renders with sample values the way Terraform renders it.
"""

from __future__ import annotations

import json
import sys

from iam_policies import DENY_SERVICE_WILDCARD, DOCS, KNOWN_PLACEHOLDERS, WILDCARD_RESOURCE_EXCEPTIONS, _as_list, documents, lint, render

SAMPLE = "arn:aws:service:eu-west-1:123456789012:sample/{}"

try:  # policy_sentry ships with checkov in the tools venv
    from policy_sentry.querying.actions import get_action_data, get_actions_for_service
except Exception:  # noqa: BLE001 - optional
    get_action_data = None


def action_problems(name: str, doc: dict) -> list[str]:
    if get_action_data is None:
        return []
    problems = []
    for st in doc["Statement"]:
        deny = st.get("Effect") == "Deny"
        wildcard = "*" in _as_list(st.get("Resource", [])) and not deny
        for action in _as_list(st.get("Action", [])):
            service, _, op = action.partition(":")
            if deny and DENY_SERVICE_WILDCARD.fullmatch(action):
                if not get_actions_for_service(service):
                    problems.append(f"{name} {st.get('Sid')}: unknown IAM service {service!r}")
                continue
            rows = get_action_data(service, op).get(service, []) if op else []
            rows = [r for r in rows if r.get("action", "").lower() == action.lower()] or rows
            if not rows:
                problems.append(f"{name} {st.get('Sid')}: unknown IAM action {action!r}")
                continue
            if wildcard and any(r.get("resource_arn_format") != "*" for r in rows):
                problems.append(
                    f"{name} {st.get('Sid')}: {action} supports resource-level permissions; scope it instead of \"*\""
                )
    return problems


def main() -> int:
    docs = documents()
    if not docs:
        print(f"FAIL no policy documents in {DOCS}")
        return 1
    failed = False
    for path in docs:
        problems = lint(path)
        statements = 0
        if not problems:
            doc = json.loads(path.read_text())
            statements = len(doc["Statement"])
            problems += action_problems(path.name, doc)
            values = {k: SAMPLE.format(k) for k in KNOWN_PLACEHOLDERS[path.name]}
            values.update(region="eu-west-1", partition="aws", account_id="123456789012",
                          name_prefix="imgcap-prod")
            try:
                json.dumps(render(path.name, values))
            except Exception as e:  # noqa: BLE001 - report any rendering problem
                problems.append(f"{path.name}: does not render: {e}")
        failed |= bool(problems)
        print(f"{'ok  ' if not problems else 'FAIL'} docs/iam/{path.name}: {statements} statements")
        for p in problems:
            print(f"       - {p}")
    if get_action_data is None:
        print("note policy_sentry not importable: action names were not checked against the IAM database")
    print('"Resource": "*" exceptions (AWS offers nothing narrower for these actions):')
    for (doc, sid), reason in sorted(WILDCARD_RESOURCE_EXCEPTIONS.items()):
        print(f"     {doc} {sid}: {reason}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
