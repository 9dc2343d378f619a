"""Check that what the documentation names exists.

Reads README.md, RUNBOOK.md, CONTRIBUTING.md, infra/README_infra.md, webapp/README.md and
docs/*.md (plus any files given on the command line) and checks:

- paths: every relative markdown link resolves, and every word in inline code that looks like a
  repository path (it contains `/` and its first segment is a tracked top-level entry or an
  entry beside the document) exists, relative to the repository root or to the document;
- scripts: every `scripts/...` named anywhere (code blocks too) exists, and a shell script
  outside scripts/lib/ is executable;
- variables: every `IMGCAP_*` variable named anywhere is in .env.example, appears in the code
  (.rs, .sh, .py, .tf, .hcl, .yml, .yaml, .toml, Dockerfiles) or is in ALLOWED_VARS with a
  reason; `IMGCAP_FOO_*` and `IMGCAP_FOO_<NAME>_...` match any variable with that prefix;
- routes: every word in inline code that starts with `/` and is not a file-system path
  (`/var/...`, `/opt/...`) is a route of the web app (`.route("...")` under webapp/src, the REST
  API under /api/v1) or of the inference server (inference/src/http/), or a prefix of one.

Prints what it checked and every failure; exits 1 on any failure.

    python3 scripts/ci/check_docs.py               # the repository's documents
    python3 scripts/ci/check_docs.py --self-test   # the checks fail on a document that lies
"""
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# IMGCAP_* names the documents may use although neither .env.example nor the code names them:
# {name: reason}. Empty: every variable the documents name exists.
ALLOWED_VARS: dict[str, str] = {}

# Words in inline code that look like repository paths but are made by a person or a tool.
ALLOWED_PATHS = {
    "infra/terraform/envs/prod/terraform.tfvars": "made from terraform.tfvars.example by the operator",
    "infra/terraform/envs/dev/terraform.tfvars": "made from terraform.tfvars.example by the operator",
    "infra/terraform/envs/prod/backend.hcl": "made from backend.hcl.example by the operator",
    "infra/terraform/envs/dev/backend.hcl": "made from backend.hcl.example by the operator",
    "docs/demo.gif": "made by scripts/make-demo-gif.py from the browser test's screenshots",
    "webapp/tests/browser/node_modules": "made by scripts/ensure-axe-core.sh (npm ci), gitignored",
}

# First segments of absolute paths that are file-system paths, not HTTP routes.
FS_ROOTS = {"opt", "var", "tmp", "etc", "usr", "dev", "proc", "home", "root", "bin", "lib",
            "mnt", "srv", "run", "sys", "build", "work", "workspace", "data"}

CODE_SUFFIXES = (".rs", ".sh", ".py", ".tf", ".hcl", ".yml", ".yaml", ".toml", ".cjs")

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)|!\[[^\]\n]*\]\(([^)\s]+)\)")
SCRIPT = re.compile(r"(?<![\w/.-])scripts/[\w./-]*[\w]")
VAR = re.compile(r"\bIMGCAP_[A-Z0-9_]*[A-Z0-9]_?")
TRAILING = ".,;:)]}'\""


def tracked_files(root):
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=root, capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if (root / f).exists()]


def known_variables(root, files):
    names = set()
    example = root / ".env.example"
    if example.exists():
        for line in example.read_text().splitlines():
            line = line.lstrip("# ")
            if line.startswith("IMGCAP_") and "=" in line:
                names.add(line.split("=", 1)[0].strip())
    for f in files:
        if f == "scripts/ci/check_docs.py":
            continue  # its self-test names variables that do not exist
        if f.endswith(CODE_SUFFIXES) or Path(f).name.startswith("Dockerfile"):
            try:
                text = (root / f).read_text(errors="replace")
            except OSError:
                continue
            names.update(m.group(0).rstrip("_") for m in VAR.finditer(text))
    return names


def route_templates(root):
    templates = set()
    for path in (root / "webapp" / "src").rglob("*.rs"):
        text = path.read_text()
        prefix = "/api/v1" if path.name == "api.rs" and path.parent.name == "http" else ""
        for m in re.finditer(r'\.route\(\s*"(/[^"]*)"', text):
            templates.add(prefix + m.group(1) if m.group(1) != "/" or not prefix else prefix)
        for m in re.finditer(r'\(\s*"(/static/[^"]+)"', text):
            templates.add(m.group(1))
        for m in re.finditer(r'\.nest\(\s*"(/[^"]*)"', text):
            templates.add(m.group(1))
    for path in (root / "inference" / "src" / "http").rglob("*.rs"):
        for m in re.finditer(r'route\(\s*Verb::\w+,\s*"(/[^"]*)"', path.read_text()):
            templates.add(m.group(1))
    return templates


def route_exists(route, templates):
    route = route.split("?")[0].split("#")[0].rstrip("/") or "/"
    segments = route.split("/")
    for template in templates:
        wanted = template.rstrip("/").split("/") if template != "/" else [""]
        if route == "/" and template == "/":
            return True
        ok = True
        for i, seg in enumerate(segments):
            if i >= len(wanted):
                ok = False
                break
            w = wanted[i]
            if w.startswith("{*"):
                break
            if w == seg or (w.startswith("{") and w.endswith("}")) or \
                    (seg.startswith("{") and seg.endswith("}") and w.startswith("{")):
                continue
            ok = False
            break
        if ok:
            return True  # the route, or a prefix of one
    return False


def split_doc(text):
    """The text outside fenced code blocks."""
    prose, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            prose.append(line)
    return "\n".join(prose)


class Checker:
    def __init__(self, root):
        self.root = root
        self.files = tracked_files(root)
        self.top = {f.split("/", 1)[0] for f in self.files}
        self.entries = {"/".join(f.split("/")[:i]) for f in self.files
                        for i in range(1, f.count("/") + 2)}
        self.variables = known_variables(root, self.files)
        self.templates = route_templates(root)
        self.counts = {"paths": 0, "links": 0, "scripts": 0, "variables": 0, "routes": 0}
        self.failures = []

    def fail(self, doc, what):
        self.failures.append(f"{doc.relative_to(self.root)}: {what}")

    def in_repo(self, path):
        """The path is a file or directory of the repository (tracked, or new and not ignored)."""
        path = Path(os.path.normpath(path))
        if not path.is_relative_to(self.root):
            return False
        rel = path.relative_to(self.root).as_posix()
        return rel == "." or rel in self.entries

    def exists(self, doc, rel):
        rel = rel.rstrip("/")
        return self.in_repo(self.root / rel) or self.in_repo(doc.parent / rel)

    def check_path_word(self, doc, word):
        word = word.strip(TRAILING)
        word = re.sub(r":\d+(-\d+)?$", "", word).split("#")[0]
        if "/" not in word:
            return
        if word.startswith(("/", "http", "~", "-", "$", "..")):
            return
        if any(c in word for c in "<>*$%{}[]|=@,()") or "..." in word or "…" in word:
            return
        word = word.removeprefix("./")
        first = word.split("/", 1)[0]
        beside = (doc.parent / first).relative_to(self.root).as_posix() \
            if doc.parent.is_relative_to(self.root) else None
        if first not in self.top and beside not in self.entries:
            return
        if word.startswith("scripts/"):
            return  # checked as a script
        self.counts["paths"] += 1
        if word in ALLOWED_PATHS:
            return
        if not self.exists(doc, word):
            self.fail(doc, f"path `{word}` does not exist")

    def check_route_word(self, doc, word):
        word = word.strip(".,;:)'\"")
        if not re.fullmatch(r"/[A-Za-z0-9_.{}*/?=&-]*", word) or word.startswith("//"):
            return
        first = word.split("/")[1].split("?")[0]
        if first in FS_ROOTS or not first or first[0].isdigit():
            return
        self.counts["routes"] += 1
        if not route_exists(word, self.templates):
            self.fail(doc, f"route `{word}` is not served by the web app or the inference server")

    def check_doc(self, doc):
        text = doc.read_text()
        prose = split_doc(text)
        for m in INLINE_CODE.finditer(prose):
            code = m.group(1)
            words = code.split()
            if len(words) >= 2 and words[0] in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
                self.check_route_word(doc, words[1])
                words = words[2:]
            for word in words:
                if word.startswith("/"):
                    self.check_route_word(doc, word)
                else:
                    self.check_path_word(doc, word)
        for m in LINK.finditer(prose):
            target = m.group(1) or m.group(2)
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            target = target.split("#")[0]
            if not target:
                continue
            self.counts["links"] += 1
            if not self.in_repo(doc.parent / target):
                self.fail(doc, f"link target `{target}` is not in the repository")
        for m in SCRIPT.finditer(text):
            rel = m.group(0).rstrip(".")
            self.counts["scripts"] += 1
            path = self.root / rel
            if not self.in_repo(path) and self.in_repo(doc.parent / rel):
                path = doc.parent / rel
            if not self.in_repo(path):
                self.fail(doc, f"script `{rel}` does not exist")
            elif path.is_file() and (rel.endswith(".sh") or "." not in path.name) \
                    and not rel.startswith("scripts/lib/") and not os.access(path, os.X_OK):
                self.fail(doc, f"script `{rel}` is not executable")
        for m in VAR.finditer(text):
            name = m.group(0)
            after = text[m.end():m.end() + 1]
            self.counts["variables"] += 1
            if after in ("*", "<") or name.endswith("_"):
                prefix = name if name.endswith("_") else name + ("_" if after == "<" else "")
                if not any(v.startswith(prefix.rstrip("_")) for v in self.variables):
                    self.fail(doc, f"no variable matches `{name}{after}`")
                continue
            if name not in self.variables and name not in ALLOWED_VARS:
                self.fail(doc, f"variable `{name}` is in neither .env.example nor the code")

    def summary(self, docs):
        c = self.counts
        print(f"check_docs: {len(docs)} documents; {c['paths']} paths, {c['links']} links, "
              f"{c['scripts']} scripts, {c['variables']} variables, {c['routes']} routes checked "
              f"against {len(self.files)} files, {len(self.variables)} known variables, "
              f"{len(self.templates)} route templates")
        for f in self.failures:
            print(f"  FAIL {f}")
        print(f"check_docs: {len(self.failures)} failed")
        return 1 if self.failures else 0


def documents(root, extra):
    docs = [root / n for n in ("README.md", "RUNBOOK.md", "CONTRIBUTING.md",
                               "infra/README_infra.md", "webapp/README.md")]
    docs += sorted((root / "docs").glob("*.md"))
    docs += [Path(e).resolve() for e in extra]
    return [d for d in docs if d.exists()]


def self_test():
    """A document that names one missing thing of each kind fails once per thing; the same
    document without them passes."""
    good = ("Run `scripts/ci/check_docs.py`; see [the README](../README.md) and `webapp/src/config/mod.rs`.\n"
            "Set `IMGCAP_MODE`; `IMGCAP_CAPTIONER_<NAME>_TIMEOUT_MS`; `GET /readyz`, `/api/v1/images/{id}`.\n")
    bad = ("See `webapp/src/no_such_module.rs` and [gone](../NO_SUCH_FILE.md).\n"
           "Run `scripts/no-such-script.sh`. Set `IMGCAP_NO_SUCH_SETTING`. Call `GET /api/v1/no-such-route`.\n")
    results = {}
    for name, text in (("good", good), ("bad", bad)):
        with tempfile.NamedTemporaryFile("w", prefix=".check-docs-", suffix=".md", dir=ROOT / "docs",
                                         delete=False) as f:
            f.write(text)
        try:
            checker = Checker(ROOT)
            checker.check_doc(Path(f.name))
            results[name] = checker.failures
        finally:
            os.unlink(f.name)
    expected = ["no_such_module.rs", "NO_SUCH_FILE.md", "no-such-script.sh", "IMGCAP_NO_SUCH_SETTING",
                "/api/v1/no-such-route"]
    problems = []
    if results["good"]:
        problems.append(f"a true document failed: {results['good']}")
    for needle in expected:
        if not any(needle in f for f in results["bad"]):
            problems.append(f"a document naming a missing `{needle}` passed")
    if len(results["bad"]) != len(expected):
        problems.append(f"expected {len(expected)} failures, got {results['bad']}")
    for p in problems:
        print(f"  FAIL self-test: {p}")
    print(f"check_docs --self-test: {len(expected)} planted faults, "
          f"{len(results['bad'])} found; {'ok' if not problems else 'FAILED'}")
    return 1 if problems else 0


def main(argv):
    if "--self-test" in argv:
        return self_test()
    docs = documents(ROOT, [a for a in argv if not a.startswith("-")])
    checker = Checker(ROOT)
    for doc in docs:
        checker.check_doc(doc)
    return checker.summary(docs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
