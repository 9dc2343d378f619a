#!/usr/bin/env bash
# Tag a release of imgcap: a clean tree on the release branch, the test command green, then an
# annotated tag. Nothing is pushed.
#
#   scripts/release.sh [--branch NAME] [--tag NAME] [--version X.Y.Z]
#
#   --branch   the branch a release is made from (default main)
#   --tag      the tag to create (default v1.0-production)
#   --version  the CHANGELOG.md section the release is (default 1.0.0): `## [X.Y.Z] - <date>`
#
# 1. refuses unless HEAD is on the branch, the working tree and index are clean (no changes, no
#    untracked files), the tag does not exist yet and CHANGELOG.md has the version's section;
# 2. runs scripts/test.sh (every test and check) and refuses unless it passes;
# 3. checks that nothing changed while the tests ran, creates the annotated tag on HEAD and
#    prints the command that pushes it (pushing a tag `v*` starts the cd workflow).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

BRANCH=main
TAG=v1.0-production
VERSION=1.0.0

usage() {
  sed -n '5,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --branch) [ $# -ge 2 ] || usage; BRANCH="$2"; shift 2 ;;
    --tag) [ $# -ge 2 ] || usage; TAG="$2"; shift 2 ;;
    --version) [ $# -ge 2 ] || usage; VERSION="$2"; shift 2 ;;
    -h | --help) usage ;;
    *) echo "release: unknown argument: $1" >&2; usage ;;
  esac
done

refuse() {
  echo "release: refused: $*" >&2
  exit 1
}

check_tree() {
  local current
  current="$(git symbolic-ref --quiet --short HEAD || true)"
  [ -n "$current" ] || refuse "HEAD is detached; check out $BRANCH"
  [ "$current" = "$BRANCH" ] || refuse "on branch $current, not $BRANCH (use --branch to release from another)"
  local dirty
  dirty="$(git status --porcelain --untracked-files=all)"
  [ -z "$dirty" ] || refuse "the working tree is not clean:
$dirty"
}

check_tree
git check-ref-format "refs/tags/$TAG" || refuse "\`$TAG\` is not a valid tag name"
if git rev-parse --quiet --verify "refs/tags/$TAG" >/dev/null; then
  refuse "tag $TAG exists already (on $(git rev-parse --short "refs/tags/$TAG^{commit}"))"
fi
grep -Eq "^## \[${VERSION//./\\.}\] - [0-9]{4}-[0-9]{2}-[0-9]{2}$" CHANGELOG.md \
  || refuse "CHANGELOG.md has no \`## [$VERSION] - YYYY-MM-DD\` section"

HEAD_BEFORE="$(git rev-parse HEAD)"
echo "release: $TAG for $VERSION at $(git log -1 --format='%h %s' HEAD)"
echo "release: running scripts/test.sh (every test and check must pass)"
if ! scripts/test.sh; then
  refuse "scripts/test.sh failed; fix it and run again"
fi

# The tests must have run on exactly what is tagged.
[ "$(git rev-parse HEAD)" = "$HEAD_BEFORE" ] || refuse "HEAD moved while the tests ran"
check_tree

git tag --annotate "$TAG" --message "imgcap $VERSION

Tagged by scripts/release.sh after scripts/test.sh passed on $(git rev-parse --short HEAD).
Release notes: CHANGELOG.md, section [$VERSION]." HEAD

echo "release: created the annotated tag $TAG on $(git rev-parse --short HEAD)"
echo "release: push it (this starts the cd workflow, which deploys dev, then prod):"
echo "    git push origin $TAG"
