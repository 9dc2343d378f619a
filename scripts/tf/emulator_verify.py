#!/usr/bin/env python3
"""Verify what `terraform apply` of infra/terraform/envs/emulator created in the AWS emulator.

    emulator_verify.py --endpoint http://127.0.0.1:PORT --outputs outputs.json

outputs.json is `terraform output -json` of the emulator root. Every check compares the
emulator's view (boto3 Describe/Get calls) with the settings the modules promise, then does a
small functional round trip in the same layout the web app uses (see infra/README_infra.md,
"What the web app must use"). The IAM role policies are compared with docs/iam/*.json rendered
from scratch, which proves the documents and the deployed policies are the same.
Prints one line per check and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from iam_policies import normalize, render  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RESULTS: list[tuple[bool, str]] = []


def check(name: str):
    def deco(fn):
        def run(*a, **kw):
            try:
                fn(*a, **kw)
                RESULTS.append((True, name))
                print(f"  ok    {name}")
            except Exception as e:  # noqa: BLE001 - every failure is reported, then we go on
                RESULTS.append((False, name))
                print(f"  FAIL  {name}: {type(e).__name__}: {e}")
                if os.environ.get("VERIFY_TRACEBACK"):
                    traceback.print_exc()
        return run
    return deco


def expect(cond: bool, msg: str) -> None:
    if not cond:
        raise AssertionError(msg)


def ulid_like() -> str:
    """A time-ordered id in ULID shape (26 Crockford base32 characters)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    n = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(alphabet[(n >> (5 * i)) & 31] for i in reversed(range(26)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--outputs", required=True)
    # The state file the apply wrote (scripts/compose-smoke.sh keeps its own).
    ap.add_argument("--state", default=str(REPO / "infra/terraform/envs/emulator/terraform.tfstate"))
    args = ap.parse_args()

    out = {k: v["value"] for k, v in json.loads(Path(args.outputs).read_text()).items()}
    region = out["region"]
    cfg = Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"})

    def client(service: str):
        return boto3.client(service, endpoint_url=args.endpoint, region_name=region,
                            aws_access_key_id="test", aws_secret_access_key="test", config=cfg)

    s3, ddb, sqs = client("s3"), client("dynamodb"), client("sqs")
    kms, cognito, sm = client("kms"), client("cognito-idp"), client("secretsmanager")
    ecr, sage, iam = client("ecr"), client("sagemaker"), client("iam")
    cw, logs = client("cloudwatch"), client("logs")

    bucket, key_arn = out["bucket_name"], out["kms_key_arn"]
    account = key_arn.split(":")[4]

    # ------------------------------------------------------------------ kms
    @check("kms: customer-managed key, enabled, rotation on, alias alias/imgcap-<env>")
    def _():
        meta = kms.describe_key(KeyId=key_arn)["KeyMetadata"]
        expect(meta["KeyManager"] == "CUSTOMER" and meta["Enabled"], f"key state {meta}")
        expect(kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"], "rotation is off")
        aliases = [a["AliasName"] for a in kms.list_aliases(KeyId=meta["KeyId"])["Aliases"]]
        expect(any(a.startswith("alias/imgcap-") for a in aliases), f"aliases {aliases}")
    _()

    # ------------------------------------------------------------------ storage
    @check("s3: image bucket default encryption is SSE-KMS with the environment key and a bucket key")
    def _():
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        d = rule["ApplyServerSideEncryptionByDefault"]
        expect(d["SSEAlgorithm"] == "aws:kms", f"algorithm {d}")
        expect(d.get("KMSMasterKeyID") == key_arn, f"key {d.get('KMSMasterKeyID')}")
        expect(rule.get("BucketKeyEnabled") is True, "bucket key not enabled")
    _()

    @check("s3: all four public-access blocks on both buckets, BucketOwnerEnforced")
    def _():
        for b in (bucket, out["log_bucket_name"]):
            pab = s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
            expect(all(pab.get(k) for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")), f"{b}: {pab}")
            own = s3.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"]["Rules"][0]["ObjectOwnership"]
            expect(own == "BucketOwnerEnforced", f"{b}: ownership {own}")
    _()

    @check("s3: versioning on; lifecycle expires after retention_days, noncurrent versions, aborts multipart uploads")
    def _():
        expect(s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled", "versioning off")
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        main = next(r for r in rules if r["ID"] == "expire-after-retention")
        expect(main["Status"] == "Enabled", "rule disabled")
        expect(main["Expiration"]["Days"] == out["retention_days"], f"expiration {main['Expiration']}")
        expect(main["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1, "no noncurrent expiration")
        expect(main["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1, "no multipart abort")
        expect(any(r.get("Expiration", {}).get("ExpiredObjectDeleteMarker") for r in rules), "delete markers kept")
    _()

    @check("s3: access logs go to the separate log bucket; CORS pinned to the app origin")
    def _():
        le = s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]
        expect(le["TargetBucket"] == out["log_bucket_name"], f"logging target {le}")
        cors = s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]
        expect(cors["AllowedOrigins"] == ["https://imgcap.emulator.test"], f"CORS {cors}")
        expect(set(cors["AllowedMethods"]) == {"GET", "HEAD"}, f"CORS methods {cors['AllowedMethods']}")
    _()

    @check("s3: bucket policy denies non-TLS, TLS < 1.2, non-KMS/other-key/SSE-C uploads")
    def _():
        pol = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        sids = {st["Sid"]: st for st in pol["Statement"]}
        for sid in ("DenyInsecureTransport", "DenyTlsOlderThan12", "DenyNonKmsEncryptionHeader", "DenyOtherKmsKeys", "DenySseC"):
            expect(sid in sids and sids[sid]["Effect"] == "Deny", f"missing {sid}")
        expect(sids["DenyTlsOlderThan12"]["Condition"]["NumericLessThan"]["s3:TlsVersion"] in ("1.2", ["1.2"], 1.2), "TLS condition")
    _()

    @check("s3: lift the bucket policy in the emulator (moto treats conditional Deny statements as unconditional)")
    def _():
        # moto's policy evaluation returns DENIED whenever a statement's condition does not hold,
        # also for Deny statements, so DenyInsecureTransport & co. would refuse every object call.
        # The policy was read back and checked above; real S3 evaluates it correctly.
        s3.delete_bucket_policy(Bucket=bucket)
    _()

    @check("s3: app layout round trip - originals/<user>/<id>, thumbnails/<user>/<id>.jpg, SSE-KMS, presigned GET")
    def _():
        user, image = "user-0001", ulid_like()
        orig, thumb = f"originals/{user}/{image}", f"thumbnails/{user}/{image}.jpg"
        s3.put_object(Bucket=bucket, Key=orig, Body=b"\x89PNG fake original", ContentType="image/png")
        s3.put_object(Bucket=bucket, Key=thumb, Body=b"\xff\xd8 fake thumbnail", ContentType="image/jpeg",
                      ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)
        head = s3.head_object(Bucket=bucket, Key=thumb)
        expect(head.get("ServerSideEncryption") == "aws:kms", f"thumbnail SSE {head.get('ServerSideEncryption')}")
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": thumb}, ExpiresIn=60)
        with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - loopback emulator URL
            expect(r.read() == b"\xff\xd8 fake thumbnail", "presigned GET returned other bytes")
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"originals/{user}/")["KeyCount"]
        expect(listed == 1, f"listed {listed} originals")
        # deletion of a user's data (versioned bucket: remove every version)
        for prefix in (f"originals/{user}/", f"thumbnails/{user}/"):
            vs = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
            objs = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in vs.get("Versions", []) + vs.get("DeleteMarkers", [])]
            if objs:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": objs})
        expect(s3.list_objects_v2(Bucket=bucket, Prefix=f"originals/{user}/")["KeyCount"] == 0, "delete left objects")
    _()

    # ------------------------------------------------------------------ data
    table = out["table_name"]

    @check("dynamodb: table pk (S, HASH) + sk (S, RANGE), on-demand, SSE-KMS with the key")
    def _():
        t = ddb.describe_table(TableName=table)["Table"]
        ks = {k["AttributeName"]: k["KeyType"] for k in t["KeySchema"]}
        expect(ks == {"pk": "HASH", "sk": "RANGE"}, f"key schema {ks}")
        types = {a["AttributeName"]: a["AttributeType"] for a in t["AttributeDefinitions"]}
        expect(types.get("pk") == "S" and types.get("sk") == "S", f"attribute types {types}")
        expect(t.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST", f"billing {t.get('BillingModeSummary')}")
        sse = t.get("SSEDescription", {})
        expect(sse.get("SSEType") == "KMS" and sse.get("KMSMasterKeyArn") == key_arn, f"SSE {sse}")
    _()

    @check("dynamodb: sparse GSI jobs-by-state (job_state HASH, sk RANGE, KEYS_ONLY)")
    def _():
        t = ddb.describe_table(TableName=table)["Table"]
        gsi = {g["IndexName"]: g for g in t.get("GlobalSecondaryIndexes", [])}
        g = gsi.get(out["jobs_index_name"])
        expect(g is not None, f"indexes {list(gsi)}")
        ks = {k["AttributeName"]: k["KeyType"] for k in g["KeySchema"]}
        expect(ks == {"job_state": "HASH", "sk": "RANGE"}, f"GSI keys {ks}")
        expect(g["Projection"]["ProjectionType"] == "KEYS_ONLY", f"projection {g['Projection']}")
    _()

    @check("dynamodb: TTL on expires_at; point-in-time recovery on")
    def _():
        ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        expect(ttl.get("TimeToLiveStatus") == "ENABLED" and ttl.get("AttributeName") == "expires_at", f"TTL {ttl}")
        pitr = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        expect(pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED", f"PITR {pitr}")
    _()

    @check("dynamodb: app layout round trip - record, history query newest first, pending-job index, token bucket")
    def _():
        user = "user-0001"
        ids = [ulid_like() for _ in range(3)]
        for i, image in enumerate(ids):
            item = {"pk": {"S": user}, "sk": {"S": image}, "status": {"S": "pending"},
                    "expires_at": {"N": str(int(time.time()) + 90 * 86400)}}
            if i == 2:
                item["job_state"] = {"S": "pending"}
            ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
            time.sleep(0.002)
        q = ddb.query(TableName=table, KeyConditionExpression="pk = :u", ExpressionAttributeValues={":u": {"S": user}},
                      ScanIndexForward=False, Limit=2)
        expect([i["sk"]["S"] for i in q["Items"]] == sorted(ids, reverse=True)[:2], "history not newest first")
        expect("LastEvaluatedKey" in q, "no cursor for the next page")
        jobs = ddb.query(TableName=table, IndexName=out["jobs_index_name"], KeyConditionExpression="job_state = :s",
                         ExpressionAttributeValues={":s": {"S": "pending"}})
        expect([(i["pk"]["S"], i["sk"]["S"]) for i in jobs["Items"]] == [(user, ids[2])], f"pending jobs {jobs['Items']}")
        ddb.put_item(TableName=table, Item={"pk": {"S": f"ratelimit#{user}"}, "sk": {"S": "upload"},
                                            "tokens": {"N": "9"}, "updated_ms": {"N": "0"},
                                            "expires_at": {"N": str(int(time.time()) + 86400)}})
        ddb.update_item(TableName=table, Key={"pk": {"S": f"ratelimit#{user}"}, "sk": {"S": "upload"}},
                        UpdateExpression="SET tokens = tokens - :one", ConditionExpression="tokens >= :one",
                        ExpressionAttributeValues={":one": {"N": "1"}})
        for image in ids:
            ddb.delete_item(TableName=table, Key={"pk": {"S": user}, "sk": {"S": image}})
        ddb.delete_item(TableName=table, Key={"pk": {"S": f"ratelimit#{user}"}, "sk": {"S": "upload"}})
    _()

    # ------------------------------------------------------------------ queue
    @check("sqs: caption queue redrives to the DLQ after 5 receives; both KMS-encrypted and TLS-only")
    def _():
        a = sqs.get_queue_attributes(QueueUrl=out["queue_url"], AttributeNames=["All"])["Attributes"]
        rp = json.loads(a["RedrivePolicy"])
        expect(rp["deadLetterTargetArn"] == out["dlq_arn"], f"redrive target {rp}")
        expect(int(rp["maxReceiveCount"]) == 5, f"maxReceiveCount {rp}")
        for url in (out["queue_url"], out["dlq_url"]):
            at = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            expect(at.get("KmsMasterKeyId") == key_arn, f"{url}: KMS {at.get('KmsMasterKeyId')}")
            pol = json.loads(at["Policy"])
            expect(any(st["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(st) for st in pol["Statement"]), f"{url}: no TLS-only policy")
        expect(int(a["VisibilityTimeout"]) >= 30, "visibility timeout")
    _()

    @check("sqs: send / receive / delete a caption job message")
    def _():
        body = json.dumps({"user_id": "user-0001", "image_id": ulid_like(), "request_id": "test"})
        sqs.send_message(QueueUrl=out["queue_url"], MessageBody=body)
        msgs = sqs.receive_message(QueueUrl=out["queue_url"], MaxNumberOfMessages=1, WaitTimeSeconds=1).get("Messages", [])
        expect(len(msgs) == 1 and msgs[0]["Body"] == body, f"received {msgs}")
        sqs.delete_message(QueueUrl=out["queue_url"], ReceiptHandle=msgs[0]["ReceiptHandle"])
    _()

    # ------------------------------------------------------------------ auth
    pool = out["user_pool_id"]

    @check("cognito: email sign-up, 12+ character password policy with all classes, email verified")
    def _():
        p = cognito.describe_user_pool(UserPoolId=pool)["UserPool"]
        expect(p.get("UsernameAttributes") == ["email"], f"username attributes {p.get('UsernameAttributes')}")
        expect("email" in p.get("AutoVerifiedAttributes", []), "email not auto-verified")
        pw = p["Policies"]["PasswordPolicy"]
        expect(pw["MinimumLength"] >= 12 and all(pw[k] for k in ("RequireUppercase", "RequireLowercase", "RequireNumbers", "RequireSymbols")), f"password policy {pw}")
        expect(p.get("AdminCreateUserConfig", {}).get("AllowAdminCreateUserOnly", False) is False, "self sign-up disabled")
    _()

    @check("cognito: public app client, code flow, callback <base>/auth/callback, logout <base>/")
    def _():
        c = cognito.describe_user_pool_client(UserPoolId=pool, ClientId=out["user_pool_client_id"])["UserPoolClient"]
        expect(not c.get("ClientSecret"), "client has a secret")
        expect(c.get("AllowedOAuthFlows") == ["code"] and c.get("AllowedOAuthFlowsUserPoolClient"), f"flows {c.get('AllowedOAuthFlows')}")
        expect(set(c.get("AllowedOAuthScopes", [])) == {"openid", "email", "profile"}, f"scopes {c.get('AllowedOAuthScopes')}")
        expect("https://imgcap.emulator.test/auth/callback" in c.get("CallbackURLs", []), f"callbacks {c.get('CallbackURLs')}")
        expect("https://imgcap.emulator.test/" in c.get("LogoutURLs", []), f"logout URLs {c.get('LogoutURLs')}")
    _()

    @check("cognito: hosted-UI domain and admin group exist")
    def _():
        d = cognito.describe_user_pool_domain(Domain=out["cognito_domain_prefix"])["DomainDescription"]
        expect(d.get("UserPoolId") == pool, f"domain {d}")
        g = cognito.get_group(GroupName=out["admin_group_name"], UserPoolId=pool)["Group"]
        expect(g["GroupName"] == "admin", f"group {g}")
    _()

    @check("cognito: infra/scripts/create-admin-user.sh creates the first admin (idempotent)")
    def _():
        aws = shutil.which("aws")
        expect(aws is not None, "aws CLI not on PATH")
        env = dict(os.environ, AWS_ENDPOINT_URL=args.endpoint, AWS_ACCESS_KEY_ID="test",
                   AWS_SECRET_ACCESS_KEY="test", AWS_REGION=region)
        cmd = [str(REPO / "infra/scripts/create-admin-user.sh"), "--user-pool-id", pool,
               "--email", "first.admin@example.com", "--region", region, "--suppress-email"]
        for _attempt in range(2):
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
            expect(r.returncode == 0, f"exit {r.returncode}: {r.stderr.strip()[-400:]}")
        groups = cognito.admin_list_groups_for_user(UserPoolId=pool, Username="first.admin@example.com")["Groups"]
        expect([g["GroupName"] for g in groups] == ["admin"], f"groups {groups}")
        cognito.admin_delete_user(UserPoolId=pool, Username="first.admin@example.com")
    _()

    @check("cognito: acceptance-test user is confirmed and signs in with the password in its secret")
    def _():
        user = out["cognito_test_user_name"]
        u = cognito.admin_get_user(UserPoolId=pool, Username=user)
        expect(u["UserStatus"] == "CONFIRMED", f"status {u['UserStatus']}")
        password = sm.get_secret_value(SecretId=out["cognito_test_user_secret_arn"])["SecretString"]
        expect(len(password) == 32 and not password.isalnum(), "password is not 32 characters with symbols")
        r = cognito.admin_initiate_auth(UserPoolId=pool, ClientId=out["user_pool_client_id"],
                                        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                        AuthParameters={"USERNAME": user, "PASSWORD": password})
        expect("IdToken" in r.get("AuthenticationResult", {}), f"no tokens: {sorted(r)}")
    _()

    # ------------------------------------------------------------------ secrets
    @check("secrets: session key generated by Secrets Manager (64 chars, KMS); HF key secret exists without a value")
    def _():
        d = sm.describe_secret(SecretId=out["session_key_secret_arn"])
        expect(d.get("KmsKeyId") in (key_arn, key_arn.split("/")[-1]), f"KMS {d.get('KmsKeyId')}")
        expect(d["Name"] == out["session_key_secret_name"], f"name {d['Name']}")
        v = sm.get_secret_value(SecretId=out["session_key_secret_arn"])["SecretString"]
        expect(len(v) == 64 and v.isalnum(), "session key is not 64 alphanumeric characters")
        state = json.loads(Path(args.state).read_text())
        expect(v not in json.dumps(state), "session key value leaked into Terraform state")
        hf = sm.describe_secret(SecretId=out["hf_api_key_secret_arn"])
        expect(hf["Name"].endswith("/hf-api-key"), f"HF secret {hf['Name']}")
        expect(not hf.get("VersionIdsToStages"), "HF secret has a value in code")
    _()

    # ------------------------------------------------------------------ registry
    @check("ecr: web + inference repositories, immutable tags, scan on push, KMS, lifecycle keeps deployed- images")
    def _():
        names = out["ecr_repository_names"]
        repos = ecr.describe_repositories(repositoryNames=[names["web"], names["inference"]])["repositories"]
        expect(len(repos) == 2, f"repositories {[r['repositoryName'] for r in repos]}")
        for r in repos:
            expect(r["imageTagMutability"] == "IMMUTABLE", f"{r['repositoryName']}: mutability")
            expect(r["imageScanningConfiguration"]["scanOnPush"], f"{r['repositoryName']}: scan on push")
            enc = r.get("encryptionConfiguration", {})
            expect(enc.get("encryptionType") == "KMS" and enc.get("kmsKey") == key_arn, f"{r['repositoryName']}: {enc}")
            lp = json.loads(ecr.get_lifecycle_policy(repositoryName=r["repositoryName"])["lifecyclePolicyText"])
            rules = sorted(lp["rules"], key=lambda rule: rule["rulePriority"])
            # Deployed images first (a later rule never expires them), "any" last.
            expect([rule["selection"]["tagStatus"] for rule in rules] == ["tagged", "untagged", "any"]
                   and rules[0]["selection"].get("tagPrefixList") == ["deployed-"],
                   f"{r['repositoryName']}: lifecycle {lp}")
    _()

    # ------------------------------------------------------------------ inference
    @check("sagemaker: endpoint InService on its endpoint config (variant primary, KMS volume) and model")
    def _():
        ep = sage.describe_endpoint(EndpointName=out["sagemaker_endpoint_name"])
        expect(ep["EndpointStatus"] == "InService", f"status {ep['EndpointStatus']}")
        cfg_ = sage.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
        v = cfg_["ProductionVariants"][0]
        expect(v["VariantName"] == "primary" and v["InitialInstanceCount"] >= 1, f"variant {v}")
        expect(cfg_.get("KmsKeyId") == key_arn, f"volume KMS {cfg_.get('KmsKeyId')}")
        m = sage.describe_model(ModelName=v["ModelName"])
        pc = m["PrimaryContainer"]
        expect(pc["Image"].endswith(":emulator") and "inference" in pc["Image"], f"image {pc['Image']}")
        expect(pc["ModelDataUrl"].startswith("s3://") and pc["ModelDataUrl"].endswith(".tar.gz"), f"model data {pc['ModelDataUrl']}")
        expect(m["ExecutionRoleArn"].endswith(f"role/{out['sagemaker_role_name']}"), f"role {m['ExecutionRoleArn']}")
    _()

    @check("sagemaker: 5xx and latency alarms exist (blue/green rollback triggers); log group with retention + KMS")
    def _():
        name = out["sagemaker_endpoint_name"]
        alarms = {a["AlarmName"] for a in cw.describe_alarms(AlarmNamePrefix=name)["MetricAlarms"]}
        expect({f"{name}-5xx", f"{name}-model-latency"} <= alarms, f"alarms {alarms}")
        lg = logs.describe_log_groups(logGroupNamePrefix=f"/aws/sagemaker/Endpoints/{name}")["logGroups"][0]
        expect(lg.get("retentionInDays") == 365 and lg.get("kmsKeyId") == key_arn, f"log group {lg}")
    _()

    # ------------------------------------------------------------------ iam
    common = {"region": region, "kms_key_arn": key_arn}
    arns = {
        "bucket_arn": f"arn:aws:s3:::{bucket}",
        "table_arn": ddb.describe_table(TableName=table)["Table"]["TableArn"],
        "queue_arn": sqs.get_queue_attributes(QueueUrl=out["queue_url"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"],
        "dlq_arn": out["dlq_arn"],
        "endpoint_arn": sage.describe_endpoint(EndpointName=out["sagemaker_endpoint_name"])["EndpointArn"],
    }
    repo_arns = {k: ecr.describe_repositories(repositoryNames=[v])["repositories"][0]["repositoryArn"]
                 for k, v in out["ecr_repository_names"].items()}
    expected = {
        out["task_role_name"]: ("imgcap-web-app", render("task-role.json", {
            **common, **arns,
            "session_key_secret_arn": out["session_key_secret_arn"],
            "hf_api_key_secret_arn": out["hf_api_key_secret_arn"],
            "bedrock_model_arn": "",
        }, omit=["BedrockConverse", "XRayTraces"])),
        out["execution_role_name"]: ("imgcap-web-execution", render("execution-role.json", {
            "web_repository_arn": repo_arns["web"],
            "log_group_arn": f"arn:aws:logs:{region}:{account}:log-group:/ecs/{out['table_name']}-web",
        })),
        out["sagemaker_role_name"]: ("imgcap-inference", render("sagemaker-execution-role.json", {
            **common, "inference_repository_arn": repo_arns["inference"],
            "model_data_object_arn": f"arn:aws:s3:::{bucket}/models/captioner/model.tar.gz",
            "candidate_model_data_object_arn": "",
            "log_group_arn": logs.describe_log_groups(logGroupNamePrefix=f"/aws/sagemaker/Endpoints/{out['sagemaker_endpoint_name']}")["logGroups"][0]["arn"].removesuffix(":*"),
        }, omit=["XRayTraces"])),
    }

    @check("iam: deployed task, execution and SageMaker role policies equal docs/iam/*.json rendered with the real ARNs")
    def _():
        for role, (policy_name, want) in expected.items():
            doc = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
            got = json.loads(doc) if isinstance(doc, str) else doc
            if normalize(got) != normalize(want):
                raise AssertionError(f"{role}/{policy_name} differs from docs/iam:\n got  {json.dumps(normalize(got), sort_keys=True)}\n want {json.dumps(normalize(want), sort_keys=True)}")
    _()

    @check("iam: roles are assumable only by ecs-tasks / sagemaker with a source-account condition")
    def _():
        for role, service in ((out["task_role_name"], "ecs-tasks.amazonaws.com"), (out["execution_role_name"], "ecs-tasks.amazonaws.com"),
                              (out["sagemaker_role_name"], "sagemaker.amazonaws.com")):
            trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
            trust = json.loads(trust) if isinstance(trust, str) else trust
            st = trust["Statement"][0]
            expect(st["Principal"] == {"Service": service}, f"{role}: principal {st['Principal']}")
            expect("aws:SourceAccount" in json.dumps(st.get("Condition", {})), f"{role}: no aws:SourceAccount condition")
    _()

    @check("iam: every role carries the environment's role boundary, and the boundary equals docs/iam/role-boundary.json")
    def _():
        boundary = out["role_boundary_arn"]
        expect(len(out["role_permissions_boundaries"]) == 3, f"roles: {sorted(out['role_permissions_boundaries'])}")
        for role in out["role_permissions_boundaries"]:
            got = iam.get_role(RoleName=role)["Role"].get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
            expect(got == boundary, f"{role}: permissions boundary {got!r}, want {boundary!r}")
        version = iam.get_policy(PolicyArn=boundary)["Policy"]["DefaultVersionId"]
        doc = iam.get_policy_version(PolicyArn=boundary, VersionId=version)["PolicyVersion"]["Document"]
        got = json.loads(doc) if isinstance(doc, str) else doc
        name_prefix = out["table_name"]  # the table is named imgcap-<env>
        want = render("role-boundary.json", {
            "partition": "aws", "region": region, "account_id": account,
            "environment": name_prefix.removeprefix("imgcap-"), "name_prefix": name_prefix, "model_objects_arn": "",
        }, omit=["ModelArtifacts"])
        if normalize(got) != normalize(want):
            raise AssertionError(f"boundary differs from docs/iam:\n got  {json.dumps(normalize(got), sort_keys=True)}\n want {json.dumps(normalize(want), sort_keys=True)}")
    _()

    failed = [n for ok, n in RESULTS if not ok]
    print(f"  {len(RESULTS) - len(failed)}/{len(RESULTS)} emulator checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
