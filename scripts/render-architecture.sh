#!/usr/bin/env bash
# Renders docs/architecture.dot to docs/architecture.svg with Graphviz (apt-get install graphviz).
# Commit both files; edit only the .dot.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v dot >/dev/null || { echo "Graphviz 'dot' is not installed (apt-get install graphviz)" >&2; exit 1; }
dot -Tsvg docs/architecture.dot -o docs/architecture.svg
echo "wrote docs/architecture.svg"
