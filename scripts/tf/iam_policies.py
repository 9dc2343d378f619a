"""The IAM policy documents in docs/iam/*.json: load, render, and lint them.

docs/iam/*.json are the single source of truth for the roles' permissions. Terraform renders
them with templatefile() in infra/terraform/modules/policy-template; render() below does the
same thing in Python (fill ${placeholders}, drop statements of disabled features by Sid, drop
empty entries of Resource lists) so the emulator test can compare what was deployed with the
documents, and lint() enforces the no-wildcard rule.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "iam"
PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")

# Statements allowed to use "Resource": "*" - AWS offers no narrower resource for these actions.
# Key: (document, Sid) -> reason. Anything else with a "*" resource or action fails the check.
WILDCARD_RESOURCE_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("execution-role.json", "EcrAuthToken"): "ecr:GetAuthorizationToken has no resource-level permissions; the token alone grants nothing, pulls are limited to the web repository by PullWebImage.",
    ("sagemaker-execution-role.json", "EcrAuthToken"): "ecr:GetAuthorizationToken has no resource-level permissions; pulls are limited to the inference repository by PullInferenceImage.",
    ("github-deploy-role.json", "EcrAuthToken"): "ecr:GetAuthorizationToken has no resource-level permissions; pushes are limited to the two repositories by PushImages.",
    ("task-role.json", "RekognitionDetectLabels"): "rekognition:DetectLabels on image bytes has no resource to scope to (it only takes resource ARNs for Custom Labels projects).",
    ("ci-deploy-role.json", "EcrAuthToken"): "ecr:GetAuthorizationToken has no resource-level permissions; pushes and pulls are limited to this environment's repositories (and the promotion source) by EcrStackRepositories and EcrPromoteSource.",
    ("ci-deploy-role.json", "EcsTaskDefinitions"): "ecs:RegisterTaskDefinition and ecs:DeregisterTaskDefinition have no resource-level permissions; the roles a task definition can carry are limited by PassStackRoles.",
    ("ci-deploy-role.json", "KmsCreateKey"): "kms:CreateKey acts on a key that does not exist yet, so it has no resource; the condition requires the new key to carry this environment's Project/Environment tags, and KmsStackKeys then limits every other key action to keys with those tags.",
    ("ci-deploy-role.json", "SecretsRandomPassword"): "secretsmanager:GetRandomPassword only returns random bytes and touches no resource (modules/generated-secret uses it for the session key).",
    ("ci-deploy-role.json", "AcmRequestCertificate"): "acm:RequestCertificate creates a certificate that does not exist yet; the condition requires this environment's tags on it, and AcmStackCertificates limits later changes to certificates with those tags.",
    ("ci-deploy-role.json", "LogsWafDelivery"): "logs:CreateLogDelivery, DeleteLogDelivery, PutResourcePolicy and DescribeResourcePolicies have no resource-level permissions; WAF needs them to deliver its logs to the aws-waf-logs-<prefix>-web group, which LogsStackLogGroups scopes.",
    ("ci-deploy-role.json", "CognitoCreateUserPool"): "cognito-idp:CreateUserPool creates a pool that does not exist yet; the condition requires this environment's tags, and CognitoStackUserPool limits every later change to pools with those tags.",
    ("sagemaker-execution-role.json", "XRayTraces"): "xray:PutTraceSegments has no resource-level permissions; it authorises the container's SigV4-signed OTLP export to X-Ray (enable_tracing).",
    ("task-role.json", "XRayTraces"): "xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level permissions; the ADOT collector sidecar (enable_tracing) sends the app's spans with them.",
    ("role-boundary.json", "NoResourceActions"): "the boundary's ceiling for the stack roles' actions without resource-level permissions: ecr:GetAuthorizationToken (execution, SageMaker and image-push roles), rekognition:DetectLabels (task role), and the X-Ray writes (xray:PutTraceSegments / PutTelemetryRecords: the web task's collector, the inference container's OTLP export); a boundary grants nothing by itself, each role's own policy still names what it uses.",
}

# Placeholders each document may use (a typo would otherwise surface only at terraform apply).
KNOWN_PLACEHOLDERS: dict[str, set[str]] = {
    "task-role.json": {
        "bucket_arn", "table_arn", "queue_arn", "dlq_arn", "kms_key_arn", "region",
        "session_key_secret_arn", "hf_api_key_secret_arn", "endpoint_arn", "bedrock_model_arn",
    },
    "execution-role.json": {"web_repository_arn", "log_group_arn"},
    "sagemaker-execution-role.json": {
        "inference_repository_arn", "model_data_object_arn", "candidate_model_data_object_arn",
        "kms_key_arn", "region", "log_group_arn",
    },
    "github-deploy-role.json": {"web_repository_arn", "inference_repository_arn"},
    "ci-plan-role.json": {"partition", "region", "account_id", "state_bucket_arn", "state_kms_key_arn"},
    "ci-deploy-role.json": {
        "partition", "region", "account_id", "environment", "name_prefix", "state_bucket_arn",
        "state_kms_key_arn", "promote_source_prefix", "route53_zone_id", "role_boundary_arn",
    },
    "role-boundary.json": {
        "partition", "region", "account_id", "environment", "name_prefix", "model_objects_arn",
    },
}

# A Deny only narrows what other statements allow, so it may name a whole service ("iam:*") and
# "*" resources (role-boundary.json denies every IAM, STS and Organizations action).
DENY_SERVICE_WILDCARD = re.compile(r"[a-z0-9-]+:\*")


def documents() -> list[Path]:
    return sorted(DOCS.glob("*.json"))


def _as_list(v):
    return v if isinstance(v, list) else [v]


def render(name: str, values: dict[str, str], omit: list[str] | tuple[str, ...] = ()) -> dict:
    """Render docs/iam/<name> exactly like modules/policy-template does."""
    text = (DOCS / name).read_text()

    def sub(m: re.Match) -> str:
        key = m.group(1)
        if key not in values:
            raise KeyError(f"{name}: no value for placeholder ${{{key}}}")
        return json.dumps(values[key])[1:-1]  # JSON-escape inside the string literal

    doc = json.loads(PLACEHOLDER.sub(sub, text))
    out = []
    for st in doc["Statement"]:
        if st.get("Sid") in omit:
            continue
        st = dict(st)
        if isinstance(st.get("Resource"), list):
            st["Resource"] = [r for r in st["Resource"] if r != ""]
            if not st["Resource"]:
                continue
        out.append(st)
    doc["Statement"] = out
    return doc


def normalize(doc: dict) -> dict:
    """Canonical form for comparing policies: Action/Resource as sorted lists, statements by Sid."""
    def norm_st(st: dict) -> dict:
        st = dict(st)
        for k in ("Action", "NotAction", "Resource", "NotResource"):
            if k in st:
                st[k] = sorted(_as_list(st[k]))
        if "Condition" in st:
            st["Condition"] = {
                op: {key: sorted(_as_list(val)) for key, val in kv.items()}
                for op, kv in st["Condition"].items()
            }
        return st

    return {
        "Version": doc.get("Version"),
        "Statement": sorted((norm_st(s) for s in doc["Statement"]), key=lambda s: s.get("Sid", "")),
    }


def lint(path: Path) -> list[str]:
    """Problems in one document (empty list: fine)."""
    problems: list[str] = []
    name = path.name
    try:
        text = path.read_text()
        doc = json.loads(text)
    except (OSError, json.JSONDecodeError) as e:
        return [f"{name}: does not parse as JSON: {e}"]

    if doc.get("Version") != "2012-10-17":
        problems.append(f'{name}: "Version" must be "2012-10-17"')
    statements = doc.get("Statement")
    if not isinstance(statements, list) or not statements:
        return problems + [f'{name}: "Statement" must be a non-empty list']

    used = set(PLACEHOLDER.findall(text))
    known = KNOWN_PLACEHOLDERS.get(name)
    if known is None:
        problems.append(f"{name}: not listed in KNOWN_PLACEHOLDERS of scripts/tf/iam_policies.py")
    else:
        for p in sorted(used - known):
            problems.append(f"{name}: unknown placeholder ${{{p}}}")
    if re.search(r"%\{", text):
        problems.append(f"{name}: template directives (%{{...}}) are not allowed; keep the file plain JSON")

    sids = [s.get("Sid") for s in statements]
    for i, st in enumerate(statements):
        sid = st.get("Sid")
        where = f"{name} statement {sid or i}"
        if not sid or not re.fullmatch(r"[A-Za-z0-9]+", sid):
            problems.append(f"{where}: every statement needs an alphanumeric Sid (features are switched off by Sid)")
        if sids.count(sid) > 1:
            problems.append(f"{where}: duplicate Sid")
        if st.get("Effect") not in ("Allow", "Deny"):
            problems.append(f"{where}: Effect must be Allow or Deny")
        if "NotAction" in st or "NotResource" in st or "NotPrincipal" in st:
            problems.append(f"{where}: NotAction/NotResource/NotPrincipal are not allowed")
        deny = st.get("Effect") == "Deny"
        actions = _as_list(st.get("Action", []))
        if not actions:
            problems.append(f"{where}: no Action")
        for a in actions:
            if deny and DENY_SERVICE_WILDCARD.fullmatch(a):
                continue
            if a == "*" or a.endswith(":*") or "*" in a.split(":", 1)[-1]:
                problems.append(f"{where}: wildcard action {a!r}")
        resources = _as_list(st.get("Resource", []))
        if not resources:
            problems.append(f"{where}: no Resource")
        if "*" in resources and not deny:
            if (name, sid) not in WILDCARD_RESOURCE_EXCEPTIONS:
                problems.append(f'{where}: "Resource": "*" without a listed exception')
            elif len(resources) > 1:
                problems.append(f'{where}: "*" mixed with other resources')
        for r in resources:
            if r != "*" and not (r.startswith("arn:") or r.startswith("${")):
                problems.append(f"{where}: resource {r!r} is neither an ARN nor a ${{placeholder}}")
            if re.fullmatch(r"arn:[^:]*:[^:]*:[^:]*:[^:]*:\*", r):
                problems.append(f"{where}: resource {r!r} is a whole-service wildcard")

    for (doc_name, sid), _reason in WILDCARD_RESOURCE_EXCEPTIONS.items():
        if doc_name == name and sid not in sids:
            problems.append(f"{name}: exception for Sid {sid} no longer matches a statement; remove it")
    return problems
