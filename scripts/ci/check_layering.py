#!/usr/bin/env python3
"""Check that the crates depend on each other only along the arrows docs/design.md draws.

    webapp -> imaging, models -> imaging, inference -> models (-> imaging), every crate -> common
    webapp -> models only with the `embedded-captioner` feature

Reads `cargo metadata --format-version 1` (the declared dependencies and the resolved graph) and
`cargo tree -p imgcap-webapp --no-default-features` (what a web app built without the embedded
captioner compiles), and fails if:

- `imgcap-common` depends on any crate of the workspace;
- `imgcap-imaging` depends on `imgcap-models`, `imgcap-inference` or `imgcap-webapp`, or reaches
  any `candle-*` crate through its normal or build dependencies;
- `imgcap-models` depends on `imgcap-webapp` or `imgcap-inference`;
- `imgcap-inference` depends on `imgcap-webapp`, or `imgcap-webapp` on `imgcap-inference`;
- `imgcap-webapp` depends on `imgcap-models` other than optionally, through the
  `embedded-captioner` feature, or compiles a `candle-*` crate or `imgcap-models` without it.

Dev-dependencies count for the rules between workspace crates (a test of `common` must not pull
in `models` either) but not for the candle rules (tests may use anything outside the graph the
binaries ship).

    python3 scripts/ci/check_layering.py              # the workspace
    python3 scripts/ci/check_layering.py --self-test  # the checks fail on a bad graph
"""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FEATURE = "embedded-captioner"

# crate -> workspace crates it must not depend on (directly, any kind of dependency).
FORBIDDEN = {
    "imgcap-imaging": {"imgcap-models", "imgcap-inference", "imgcap-webapp"},
    "imgcap-models": {"imgcap-webapp", "imgcap-inference"},
    "imgcap-inference": {"imgcap-webapp"},
    "imgcap-webapp": {"imgcap-inference"},
}
# Crates that must not reach candle through their normal or build dependencies.
CANDLE_FREE = {"imgcap-common", "imgcap-imaging"}


def is_candle(name):
    return name.startswith("candle-") or name == "candle"


def check(metadata, webapp_tree_without_feature):
    """Every broken rule, as a sentence; none when the graph keeps to the arrows."""
    errors = []
    members = set(metadata["workspace_members"])
    packages = {p["id"]: p for p in metadata["packages"]}
    internal = {packages[i]["name"] for i in members if i in packages}

    for pid in sorted(members):
        pkg = packages.get(pid)
        if pkg is None:
            continue
        name = pkg["name"]
        for dep in pkg["dependencies"]:
            target = dep["name"]
            kind = dep.get("kind") or "normal"
            if name == "imgcap-common" and target in internal:
                errors.append(f"imgcap-common depends on {target} ({kind}): common depends on no "
                              "crate of the workspace")
            if target in FORBIDDEN.get(name, set()):
                errors.append(f"{name} depends on {target} ({kind})")
            if name == "imgcap-webapp" and target == "imgcap-models" and kind == "normal":
                enabling = pkg.get("features", {}).get(FEATURE, [])
                if not dep.get("optional"):
                    errors.append("imgcap-webapp depends on imgcap-models unconditionally: it must "
                                  f"be optional, enabled by the `{FEATURE}` feature")
                elif not any(f in ("dep:imgcap-models", "imgcap-models") for f in enabling):
                    errors.append(f"imgcap-webapp's `{FEATURE}` feature does not enable "
                                  "imgcap-models")
            if name in CANDLE_FREE and is_candle(target) and kind != "dev":
                errors.append(f"{name} depends on {target}")

    # What each candle-free crate reaches through normal and build edges of the resolved graph.
    nodes = {n["id"]: n for n in (metadata.get("resolve") or {}).get("nodes", [])}
    for pid in sorted(members):
        pkg = packages.get(pid)
        if pkg is None or pkg["name"] not in CANDLE_FREE:
            continue
        seen, stack = set(), [pid]
        while stack:
            node = nodes.get(stack.pop())
            if node is None:
                continue
            for dep in node.get("deps", []):
                kinds = {k.get("kind") for k in dep.get("dep_kinds", [{}])}
                if kinds <= {"dev"} or dep["pkg"] in seen:
                    continue
                seen.add(dep["pkg"])
                stack.append(dep["pkg"])
        reached = sorted({packages[i]["name"] for i in seen if i in packages})
        bad = [n for n in reached if is_candle(n) or n in ("imgcap-models",)]
        if bad:
            errors.append(f"{pkg['name']} reaches {', '.join(bad)} through its dependencies")

    compiled = {line.split()[0] for line in webapp_tree_without_feature if line.strip()}
    bad = sorted(n for n in compiled if is_candle(n) or n == "imgcap-models")
    if bad:
        errors.append(f"imgcap-webapp without `{FEATURE}` compiles {', '.join(bad)}")
    return errors


def cargo(*args):
    return subprocess.run(["cargo", *args], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


def run():
    metadata = json.loads(cargo("metadata", "--format-version", "1", "--locked"))
    tree = cargo("tree", "--locked", "-p", "imgcap-webapp", "--no-default-features",
                 "-e", "normal,build", "--prefix", "none", "--format", "{p}").splitlines()
    errors = check(metadata, tree)
    members = len(metadata["workspace_members"])
    crates = {tuple(line.split()[:2]) for line in tree if line.strip()}
    print(f"check_layering: {members} workspace crates, {len(crates)} crates in the web app "
          f"without `{FEATURE}`")
    for error in errors:
        print(f"FAIL {error}")
    if errors:
        return 1
    print("check_layering: every dependency follows the arrows")
    return 0


def self_test():
    def pkg(name, deps=(), features=None):
        return {
            "id": f"{name} 0.1.0",
            "name": name,
            "dependencies": [
                {"name": d[0], "kind": d[1] if len(d) > 1 else None,
                 "optional": d[2] if len(d) > 2 else False} for d in deps
            ],
            "features": features or {},
        }

    def graph(packages, edges=()):
        nodes = {p["id"]: {"id": p["id"], "deps": []} for p in packages}
        for source, target in edges:
            nodes.setdefault(f"{source} 0.1.0", {"id": f"{source} 0.1.0", "deps": []})
            nodes[f"{source} 0.1.0"]["deps"].append(
                {"pkg": f"{target} 0.1.0", "dep_kinds": [{"kind": None}]})
        return {
            "packages": packages,
            "workspace_members": [p["id"] for p in packages if p["name"].startswith("imgcap-")],
            "resolve": {"nodes": list(nodes.values())},
        }

    good_webapp = pkg("imgcap-webapp", [("imgcap-common",), ("imgcap-imaging",),
                                        ("imgcap-models", None, True)],
                      {FEATURE: ["dep:imgcap-models"], "default": [FEATURE]})
    good = [
        pkg("imgcap-common"),
        pkg("imgcap-imaging", [("imgcap-common",), ("image",)]),
        pkg("imgcap-models", [("imgcap-common",), ("imgcap-imaging",), ("candle-core",)]),
        pkg("imgcap-inference", [("imgcap-models",), ("imgcap-imaging",)]),
        good_webapp,
        pkg("image"), pkg("candle-core"), pkg("gemm"),
    ]
    good_edges = [("imgcap-imaging", "image"), ("imgcap-models", "candle-core"),
                  ("candle-core", "gemm"), ("imgcap-models", "imgcap-imaging")]
    failures = []

    def expect(what, metadata, tree, fragment):
        errors = check(metadata, tree)
        if fragment is None and errors:
            failures.append(f"{what}: unexpected {errors}")
        elif fragment is not None and not any(fragment in e for e in errors):
            failures.append(f"{what}: no error containing {fragment!r} in {errors}")

    expect("the good graph", graph(good, good_edges), ["imgcap-webapp v0.1.0", "axum v0.8"], None)
    bad_common = [pkg("imgcap-common", [("imgcap-models", "dev")])] + good[1:]
    expect("common on models", graph(bad_common, good_edges), [], "imgcap-common depends on")
    bad_imaging = [good[0], pkg("imgcap-imaging", [("candle-nn",)])] + good[2:]
    expect("imaging on candle", graph(bad_imaging, good_edges), [], "imgcap-imaging depends on candle-nn")
    expect("imaging reaching candle", graph(good, good_edges + [("image", "candle-core")]), [],
           "imgcap-imaging reaches candle-core")
    bad_models = good[:2] + [pkg("imgcap-models", [("imgcap-webapp",)])] + good[3:]
    expect("models on webapp", graph(bad_models, good_edges), [], "imgcap-models depends on imgcap-webapp")
    bad_inference = good[:3] + [pkg("imgcap-inference", [("imgcap-webapp", "dev")])] + good[4:]
    expect("inference on webapp", graph(bad_inference, good_edges), [],
           "imgcap-inference depends on imgcap-webapp")
    hard_webapp = good[:4] + [pkg("imgcap-webapp", [("imgcap-models",)], {})] + good[5:]
    expect("webapp on models without the feature", graph(hard_webapp, good_edges), [],
           "unconditionally")
    expect("webapp compiling candle without the feature", graph(good, good_edges),
           ["imgcap-webapp v0.1.0", "candle-core v0.11.1"], "compiles candle-core")

    for failure in failures:
        print(f"FAIL self-test {failure}")
    if failures:
        return 1
    print("check_layering --self-test: every bad graph fails, the good one passes")
    return 0


if __name__ == "__main__":
    sys.exit(self_test() if "--self-test" in sys.argv[1:] else run())
