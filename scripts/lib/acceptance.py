"""The post-deployment acceptance checks behind scripts/acceptance.sh (read its header first).

A throw-away Cognito user signs in, uploads a ~1.2 MB JPEG through the REST API and waits for its
captions; the checks then look behind the API (S3 objects and their encryption, the DynamoDB
record), fetch the presigned URL, run concurrent users, delete the user's data and look again.
Every check prints PASS, FAIL or SKIP (with the reason) and the run ends with one summary line.
The Cognito users are deleted whatever happens (also on Ctrl-C or SIGTERM).

Needs boto3 and the caller's AWS credentials (AWS_ENDPOINT_URL points it at the emulator).
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import hashlib
import http.cookiejar
import ipaddress
import json
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_jpeg import synthetic_jpeg  # noqa: E402  (a sibling file, not a package)


class Report:
    def __init__(self) -> None:
        self.counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
        self.lock = threading.Lock()

    def add(self, result: str, name: str, detail: str = "") -> bool:
        with self.lock:
            self.counts[result] += 1
            print(f"{result}  {name}" + (f" - {detail}" if detail else ""), flush=True)
        return result == "PASS"

    def check(self, ok: bool, name: str, detail: str = "") -> bool:
        return self.add("PASS" if ok else "FAIL", name, detail)


class Failed(Exception):
    """A step that later steps depend on went wrong; already reported."""


# --- HTTP without redirects (the hosted UI's answers are redirects to read, not to follow) ----
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body or b"null")


def request(url: str, method: str = "GET", body: bytes | None = None,
            headers: dict[str, str] | None = None, jar: http.cookiejar.CookieJar | None = None,
            timeout: float = 60) -> Response:
    handlers: list = [_NoRedirect()]
    if jar is not None:
        handlers.append(urllib.request.HTTPCookieProcessor(jar))
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with opener.open(req, timeout=timeout) as r:
            return Response(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def with_comment(jpeg: bytes, text: str) -> bytes:
    """The same picture with a COM segment after SOI: other bytes, so another image to the app."""
    comment = text.encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


# --- settings -----------------------------------------------------------------------------------
@dataclass
class Settings:
    base_url: str
    user_pool_id: str
    client_id: str
    hosted_ui: str | None        # https://<domain>.auth.<region>.amazoncognito.com
    redirect_uri: str | None
    bucket: str
    table: str
    kms_key_arn: str | None
    region: str
    dry_run: bool
    users: int
    caption_timeout: float
    image: bytes


def settings_from(args: argparse.Namespace) -> Settings:
    outputs = {}
    if args.outputs:
        outputs = {k: v["value"] for k, v in json.loads(Path(args.outputs).read_text()).items()}
    env = outputs.get("web_environment") or {}
    login = urllib.parse.urlsplit(outputs.get("cognito_hosted_ui_url") or "")
    login_query = dict(urllib.parse.parse_qsl(login.query))

    def first(*values: str | None) -> str | None:
        return next((v for v in values if v), None)

    values = {
        "base_url": first(args.base_url, outputs.get("app_url")),
        "user_pool_id": first(args.user_pool_id, outputs.get("cognito_user_pool_id"),
                              outputs.get("user_pool_id")),
        "client_id": first(args.client_id, outputs.get("cognito_client_id"),
                           outputs.get("user_pool_client_id"), env.get("IMGCAP_OIDC_CLIENT_ID"),
                           login_query.get("client_id")),
        "bucket": first(args.bucket, env.get("IMGCAP_S3_BUCKET")),
        "table": first(args.table, env.get("IMGCAP_DYNAMODB_TABLE")),
        "region": first(args.region, env.get("AWS_REGION"), outputs.get("region")),
    }
    missing = [k for k, v in values.items() if not v]
    if missing:
        sys.exit(f"acceptance: unknown {', '.join(missing)}: pass --env/--outputs or the flags")
    hosted_ui = first(args.hosted_ui, f"{login.scheme}://{login.netloc}" if login.netloc else None)
    redirect_uri = first(args.redirect_uri, login_query.get("redirect_uri"),
                         env.get("IMGCAP_OIDC_REDIRECT_URL"))
    if not args.dry_run and not (hosted_ui and redirect_uri):
        sys.exit("acceptance: sign-in needs the hosted UI: --hosted-ui and --redirect-uri "
                 "(or the cognito_hosted_ui_url output)")
    base_url = values["base_url"].rstrip("/")
    if args.dry_run:
        if not is_loopback(urllib.parse.urlsplit(base_url).hostname or ""):
            sys.exit(f"acceptance: --dry-run runs against a loopback URL only, not {base_url}")
    if args.image:
        image = Path(args.image).read_bytes()
    else:
        image = synthetic_jpeg(1_200_000, seed=1)
    if not image.startswith(b"\xff\xd8"):
        sys.exit(f"acceptance: {args.image} is not a JPEG")
    return Settings(base_url=base_url, user_pool_id=values["user_pool_id"],
                    client_id=values["client_id"], hosted_ui=hosted_ui, redirect_uri=redirect_uri,
                    bucket=values["bucket"], table=values["table"],
                    kms_key_arn=first(args.kms_key_arn, env.get("IMGCAP_S3_KMS_KEY_ARN")),
                    region=values["region"], dry_run=args.dry_run, users=args.users,
                    caption_timeout=args.caption_timeout, image=image)


# --- the run ------------------------------------------------------------------------------------
class Acceptance:
    def __init__(self, s: Settings, report: Report) -> None:
        self.s, self.report = s, report
        config = Config(region_name=s.region, retries={"max_attempts": 5, "mode": "standard"},
                        s3={"addressing_style": "path"} if s.dry_run else None)
        self.cognito = boto3.client("cognito-idp", config=config)
        self.s3 = boto3.client("s3", config=config)
        self.dynamodb = boto3.client("dynamodb", config=config)
        self.created: set[str] = set()
        self.created_lock = threading.Lock()

    # Cognito ---------------------------------------------------------------------------------
    def create_user(self, label: str) -> tuple[str, str]:
        email = f"imgcap-acceptance-{label}-{secrets.token_hex(4)}@example.com"
        # Meets any policy the auth module allows: upper, lower, digit, symbol, 24 characters.
        password = "Aa1!" + secrets.token_urlsafe(15)
        self.cognito.admin_create_user(
            UserPoolId=self.s.user_pool_id, Username=email, MessageAction="SUPPRESS",
            UserAttributes=[{"Name": "email", "Value": email},
                            {"Name": "email_verified", "Value": "true"}])
        with self.created_lock:
            self.created.add(email)
        self.cognito.admin_set_user_password(UserPoolId=self.s.user_pool_id, Username=email,
                                             Password=password, Permanent=True)
        return email, password

    def delete_users(self) -> None:
        with self.created_lock:
            users, self.created = sorted(self.created), set()
        left = []
        for email in users:
            try:
                self.cognito.admin_delete_user(UserPoolId=self.s.user_pool_id, Username=email)
            except self.cognito.exceptions.UserNotFoundException:
                pass
            except Exception as e:  # noqa: BLE001  (report every user that stays behind)
                left.append(f"{email} ({e})")
        if users:
            self.report.check(not left, f"cleanup: delete the {len(users)} test user(s) from Cognito",
                              "left: " + ", ".join(left) if left else "")

    def sign_in(self, email: str, password: str) -> str:
        """An access token for the app client, the way a browser gets one."""
        if self.s.dry_run:
            # The emulator serves no hosted UI; the admin API issues the same kind of token.
            auth = self.cognito.admin_initiate_auth(
                UserPoolId=self.s.user_pool_id, ClientId=self.s.client_id,
                AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": email, "PASSWORD": password})
            return auth["AuthenticationResult"]["AccessToken"]
        verifier = b64url(secrets.token_bytes(32))
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": self.s.client_id,
            "redirect_uri": self.s.redirect_uri, "scope": "openid email",
            "state": secrets.token_hex(8), "code_challenge_method": "S256",
            "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest())})
        login = f"{self.s.hosted_ui}/login?{query}"
        jar = http.cookiejar.CookieJar()
        page = request(login, jar=jar)
        csrf = next((c.value for c in jar if c.name == "XSRF-TOKEN"), None)
        if page.status != 200 or not csrf:
            raise RuntimeError(f"hosted UI {login} answered {page.status} without an XSRF-TOKEN "
                               "cookie (the classic hosted UI is expected)")
        form = urllib.parse.urlencode({"_csrf": csrf, "username": email, "password": password,
                                       "signInSubmitButton": "Sign in"}).encode()
        answer = request(login, "POST", form, {"Content-Type": "application/x-www-form-urlencoded"},
                         jar=jar)
        location = answer.headers.get("location", "")
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query)).get("code")
        if answer.status != 302 or not location.startswith(self.s.redirect_uri) or not code:
            raise RuntimeError(f"the hosted UI refused the sign-in ({answer.status}, location "
                               f"{location[:80]!r}): MFA required, or a changed login page?")
        token = request(f"{self.s.hosted_ui}/oauth2/token", "POST", urllib.parse.urlencode({
            "grant_type": "authorization_code", "client_id": self.s.client_id, "code": code,
            "redirect_uri": self.s.redirect_uri, "code_verifier": verifier}).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        if token.status != 200:
            raise RuntimeError(f"token endpoint answered {token.status}: {token.body[:200]!r}")
        return token.json()["access_token"]

    # the app's API ---------------------------------------------------------------------------
    def api(self, token: str, method: str, path: str, body: bytes | None = None,
            content_type: str | None = None) -> Response:
        headers = {"Authorization": f"Bearer {token}"}
        if content_type:
            headers["Content-Type"] = content_type
        return request(self.s.base_url + path, method, body, headers, timeout=120)

    def upload_and_wait(self, token: str, image: bytes) -> dict:
        r = self.api(token, "POST", "/api/v1/images", image, "image/jpeg")
        if r.status != 202:
            raise RuntimeError(f"upload answered {r.status}: {r.body[:300]!r}")
        image_id = r.json()["image"]["id"]
        deadline = time.monotonic() + self.s.caption_timeout
        while True:
            r = self.api(token, "GET", f"/api/v1/images/{image_id}")
            if r.status != 200:
                raise RuntimeError(f"GET image answered {r.status}: {r.body[:300]!r}")
            record = r.json()
            if record["status"] in ("done", "failed"):
                return record
            if time.monotonic() > deadline:
                raise RuntimeError(f"image {image_id} still {record['status']} after "
                                   f"{self.s.caption_timeout:.0f} s")
            time.sleep(2)

    # behind the API --------------------------------------------------------------------------
    def objects(self, prefix: str) -> list[dict]:
        """Every version and delete marker under a prefix (the bucket is versioned)."""
        found = []
        for page in self.s3.get_paginator("list_object_versions").paginate(
                Bucket=self.s.bucket, Prefix=prefix):
            found += page.get("Versions", []) + page.get("DeleteMarkers", [])
        return found

    def items(self, pk: str) -> int:
        return self.dynamodb.query(TableName=self.s.table, KeyConditionExpression="pk = :pk",
                                   ExpressionAttributeValues={":pk": {"S": pk}},
                                   Select="COUNT")["Count"]

    def check_object(self, name: str, prefix: str) -> None:
        keys = [o["Key"] for o in self.objects(prefix) if "VersionId" in o and o.get("IsLatest")]
        if not keys:
            self.report.check(False, name, f"no object under s3://{self.s.bucket}/{prefix}")
            return
        head = self.s3.head_object(Bucket=self.s.bucket, Key=keys[0])
        sse, key_id = head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")
        ok = sse == "aws:kms" and (self.s.kms_key_arn is None or key_id == self.s.kms_key_arn)
        self.report.check(ok, name, f"s3://{self.s.bucket}/{keys[0]}: {head['ContentLength']} "
                          f"bytes, ServerSideEncryption={sse}, SSEKMSKeyId={key_id}")

    # the checks ------------------------------------------------------------------------------
    def main_user(self) -> None:
        r = self.report
        email, password = self.create_user("main")
        r.add("PASS", "cognito: admin-create-user + admin-set-user-password", email)
        if self.s.dry_run:
            r.add("SKIP", "cognito: hosted-UI sign-in and token endpoint",
                  "the emulator serves no hosted UI; the token comes from admin-initiate-auth")
        try:
            token = self.sign_in(email, password)
        except Exception as e:  # noqa: BLE001
            r.check(False, "cognito: sign-in", str(e))
            raise Failed from e
        c = claims(token)
        how = "admin-initiate-auth" if self.s.dry_run else "hosted-UI sign-in + token endpoint"
        r.check(c.get("token_use") == "access" and c.get("client_id") == self.s.client_id,
                f"cognito: {how}, access token for the app client", f"sub {c.get('sub')}")
        user = c["sub"]

        try:
            record = self.upload_and_wait(token, self.s.image)
        except Exception as e:  # noqa: BLE001
            r.check(False, f"api: upload a {len(self.s.image)}-byte JPEG and wait for captions", str(e))
            raise Failed from e
        result = record.get("result") or {}
        concise = (result.get("concise") or {}).get("text")
        creative = (result.get("creative") or {}).get("text")
        r.check(record["status"] == "done" and bool(concise) and bool(creative),
                f"api: upload a {len(self.s.image)}-byte JPEG, captioned",
                f"{record['status']}: {concise!r} / {(creative or '')[:60]!r} "
                f"({result.get('provider')}, {result.get('latency_ms')} ms)"
                if record["status"] == "done" else f"failed: {record.get('failure_reason')}")
        image_id = record["id"]

        self.check_object("s3: original stored with SSE-KMS", f"originals/{user}/{image_id}")
        self.check_object("s3: thumbnail stored with SSE-KMS", f"thumbnails/{user}/{image_id}")
        item = self.dynamodb.get_item(TableName=self.s.table,
                                      Key={"pk": {"S": user}, "sk": {"S": image_id}}).get("Item", {})
        stored = (item.get("concise", {}).get("S"), item.get("creative", {}).get("S"))
        r.check(stored == (concise, creative) and item.get("status", {}).get("S") == "done",
                "dynamodb: record with both captions", f"{self.s.table} pk={user} sk={image_id}")

        url = record.get("image_url") or ""
        scheme = urllib.parse.urlsplit(url).scheme
        if self.s.dry_run and scheme == "http":
            r.add("SKIP", "presigned URL over HTTPS", f"the emulator's S3 is plain http ({url[:40]}...)")
        else:
            r.check(scheme == "https" and "X-Amz-Signature=" in url, "presigned URL over HTTPS",
                    url.split("?")[0])
        got = request(url) if url else Response(0, {}, b"")
        r.check(got.status == 200 and len(got.body) == record["size_bytes"],
                "presigned URL serves the original without a token",
                f"{got.status}, {len(got.body)} of {record['size_bytes']} bytes")

        self.concurrent_users()

        gone = self.api(token, "DELETE", "/api/v1/me")
        listed = self.api(token, "GET", "/api/v1/images")
        r.check(gone.status == 204 and listed.status == 200 and listed.json()["items"] == [],
                "api: DELETE /api/v1/me, history empty", f"{gone.status}, then {listed.status}")
        left = {p: len(self.objects(f"{p}/{user}/")) for p in ("originals", "thumbnails")}
        left |= {pk: self.items(pk) for pk in (user, f"sha256#{user}")}
        r.check(not any(left.values()), "delete-my-data leaves nothing in S3 or DynamoDB",
                ", ".join(f"{k}: {v}" for k, v in left.items()))

    def one_user(self, n: int) -> str | None:
        """A whole session for one concurrent user; the error, or None."""
        try:
            email, password = self.create_user(f"u{n}")
            token = self.sign_in(email, password)
            record = self.upload_and_wait(token, with_comment(self.s.image, f"acceptance user {n}"))
            if record["status"] != "done":
                return f"user {n}: image {record['status']} ({record.get('failure_reason')})"
            listed = self.api(token, "GET", "/api/v1/images")
            if listed.status != 200 or [i["id"] for i in listed.json()["items"]] != [record["id"]]:
                return f"user {n}: history answered {listed.status}"
            status = self.api(token, "DELETE", "/api/v1/me").status
            return None if status == 204 else f"user {n}: DELETE /api/v1/me answered {status}"
        except Exception as e:  # noqa: BLE001
            return f"user {n}: {e}"

    def concurrent_users(self) -> None:
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(self.s.users) as pool:
            errors = [e for e in pool.map(self.one_user, range(1, self.s.users + 1)) if e]
        self.report.check(not errors, f"{self.s.users} concurrent users: sign in, upload, captions, "
                          "history, delete, with no errors",
                          f"{time.monotonic() - started:.0f} s" + ("; " + "; ".join(errors[:5])
                                                                   if errors else ""))


def main() -> int:
    p = argparse.ArgumentParser(description="imgcap post-deployment acceptance checks")
    p.add_argument("--outputs", help="`terraform output -json` of the environment")
    p.add_argument("--base-url")
    p.add_argument("--user-pool-id")
    p.add_argument("--client-id")
    p.add_argument("--hosted-ui", help="https://<domain>.auth.<region>.amazoncognito.com")
    p.add_argument("--redirect-uri")
    p.add_argument("--bucket")
    p.add_argument("--table")
    p.add_argument("--kms-key-arn")
    p.add_argument("--region")
    p.add_argument("--image", help="a JPEG to upload (default: a generated 1.2 MB one)")
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--caption-timeout", type=float, default=300)
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args()
    if not 1 <= args.users <= 50:
        p.error("--users must be 1 to 50")
    s = settings_from(args)
    report = Report()
    run = Acceptance(s, report)
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, so the users are still deleted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"acceptance: {s.base_url} (pool {s.user_pool_id}, bucket {s.bucket}, table {s.table})"
          + (" - dry run against the emulator" if s.dry_run else ""), flush=True)
    try:
        run.main_user()
    except Failed:
        report.add("SKIP", "the remaining checks", "they need the step that failed")
    except Exception as e:  # noqa: BLE001  (an unexpected error is one more failed check)
        report.check(False, "unexpected error", repr(e))
    finally:
        run.delete_users()
        c = report.counts
        print(f"acceptance: {c['PASS']} passed, {c['FAIL']} failed, {c['SKIP']} skipped", flush=True)
    return 1 if report.counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
