#!/usr/bin/env python3
"""Every Terraform variable under infra/terraform (modules and roots) must declare a `type` and
a non-empty `description`. Also reports, per directory, how many variables have a default and
a validation block. Uses the HCL parser that ships with checkov (bc-python-hcl2) when available,
otherwise a brace-matching scanner.

    check_variables.py [ROOT]      (default: infra/terraform)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

try:
    import hcl2  # bc-python-hcl2, installed with checkov
except Exception:  # noqa: BLE001 - fall back to the scanner
    hcl2 = None


def scan_blocks(text: str) -> list[tuple[str, str, int]]:
    """(name, body, line) of every top-level `variable "name" { ... }` block (fallback parser)."""
    out = []
    for m in re.finditer(r'^variable\s+"([^"]+)"\s*\{', text, re.M):
        depth, i, in_str, esc = 1, m.end(), False, False
        while i < len(text) and depth:
            c = text[i]
            if in_str:
                esc = (c == "\\") and not esc
                if c == '"' and not esc:
                    in_str = False
            elif c == '"':
                in_str = True
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            i += 1
        out.append((m.group(1), text[m.end():i - 1], text.count("\n", 0, m.start()) + 1))
    return out


def variables(path: Path) -> list[dict]:
    text = path.read_text()
    if hcl2 is not None:
        with path.open() as f:
            parsed = hcl2.load(f)
        found = []
        for block in parsed.get("variable", []):
            for name, body in block.items():
                found.append({
                    "name": name,
                    "line": body.get("__start_line__", 0),
                    "type": bool(body.get("type")),
                    "description": bool(str((body.get("description") or [""])[0]).strip()),
                    "default": "default" in body,
                    "validation": bool(body.get("validation")),
                })
        return found
    found = []
    for name, body, line in scan_blocks(text):
        top = re.sub(r"\{[^{}]*\}", "", body)  # drop nested blocks (validation, ...)
        found.append({
            "name": name,
            "line": line,
            "type": re.search(r"^\s*type\s*=", body, re.M) is not None,
            "description": re.search(r'^\s*description\s*=\s*"\s*[^"\s]', top, re.M) is not None,
            "default": re.search(r"^\s*default\s*=", body, re.M) is not None,
            "validation": re.search(r"^\s*validation\s*\{", body, re.M) is not None,
        })
    return found


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "infra" / "terraform"
    problems: list[str] = []
    per_dir: dict[Path, list[dict]] = {}
    for tf in sorted(root.rglob("*.tf")):
        if ".terraform" in tf.parts:
            continue
        for v in variables(tf):
            per_dir.setdefault(tf.parent, []).append(v)
            rel = tf.relative_to(REPO) if tf.is_relative_to(REPO) else tf
            if not v["type"]:
                problems.append(f"{rel}:{v['line']}: variable \"{v['name']}\" has no type")
            if not v["description"]:
                problems.append(f"{rel}:{v['line']}: variable \"{v['name']}\" has no description")
    total = sum(len(v) for v in per_dir.values())
    for d, vs in per_dir.items():
        rel = d.relative_to(root)
        print(f"  {str(rel):24} {len(vs):3} variables, {sum(v['default'] for v in vs):3} with default, "
              f"{sum(v['validation'] for v in vs):3} with validation")
    for p in problems:
        print(f"  FAIL {p}")
    print(f"  {total} variables in {len(per_dir)} directories; {len(problems)} problems"
          f"{'' if hcl2 else ' (fallback parser: hcl2 not importable)'}")
    return 1 if problems or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
