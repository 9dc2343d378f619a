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
- each document renders with sample values the way Terraform renders it;
- the stack roles' permissions boundary (role-boundary.json) allows every action of the stack
  roles' documents, and every aws_iam_role of infra/terraform/modules (but the CI roles, which
  bootstrap creates) carries permissions_boundary = var.permissions_boundary.
"""

from __future__ import annotations

import json
import re
import sys

from iam_policies import DENY_SERVICE_WILDCARD, DOCS, KNOWN_PLACEHOLDERS, REPO, WILDCARD_RESOURCE_EXCEPTIONS, _as_list, documents, lint, render

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


# The documents of the roles the stack creates (modules/iam, modules/inference,
# modules/github-oidc), all of which carry the boundary; modules/network's flow-logs role writes
# its policy in HCL (logs:CreateLogStream / PutLogEvents / DescribeLogStreams, the Logs statement).
BOUNDARY = "role-boundary.json"
STACK_ROLE_DOCUMENTS = ("task-role.json", "execution-role.json", "sagemaker-execution-role.json", "github-deploy-role.json")
# Roles bootstrap creates (modules/ci-roles): the boundary is for the stack's roles only.
UNBOUNDED_MODULES = ("ci-roles",)
ROLE_RESOURCE = re.compile(r'^resource "aws_iam_role" "([^"]+)" \{\n(.*?)^\}', re.M | re.S)


def boundary_problems() -> list[str]:
    """Actions a stack role's document allows that its boundary would silently take away."""
    def allowed(name: str) -> dict[str, str]:  # IAM action names are case-insensitive
        doc = json.loads((DOCS / name).read_text())
        return {a.lower(): a for st in doc["Statement"] if st["Effect"] == "Allow" for a in _as_list(st["Action"])}

    ceiling = allowed(BOUNDARY)
    return [
        f"{name}: {action} is not allowed by {BOUNDARY}; add it there (scoped to imgcap-<env>) or the role loses it"
        for name in STACK_ROLE_DOCUMENTS
        for key, action in sorted(allowed(name).items())
        if key not in ceiling
    ]


def unbounded_roles() -> list[str]:
    """aws_iam_role resources of the stack's modules without the permissions_boundary input."""
    problems = []
    for tf in sorted((REPO / "infra" / "terraform" / "modules").glob("*/*.tf")):
        if tf.parent.name in UNBOUNDED_MODULES:
            continue
        for role, body in ROLE_RESOURCE.findall(tf.read_text()):
            if not re.search(r"^\s*permissions_boundary\s*=\s*var\.permissions_boundary\s*$", body, re.M):
                problems.append(f"{tf.relative_to(REPO)}: aws_iam_role.{role} lacks permissions_boundary = var.permissions_boundary")
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
    for title, problems in (
        (f"docs/iam/{BOUNDARY} allows every action of {', '.join(STACK_ROLE_DOCUMENTS)}", boundary_problems()),
        ("every aws_iam_role of the stack's modules carries permissions_boundary", unbounded_roles()),
    ):
        failed |= bool(problems)
        print(f"{'ok  ' if not problems else 'FAIL'} {title}")
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
