#!/usr/bin/env sh
# Packaging check (issue #22): `pip install` of the built wheel alone, in a fresh venv, gives the
# whole tool — no Makefile steps. Builds the wheel, installs it with pip only (pip's own cache
# makes a re-run fast), then runs `haechi demo` and `haechi doctor`, which must exit 0.
# Usage: scripts/check_wheel.sh [python]   (default python3; run from anywhere)
set -eu
PY=${1:-python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/haechi-wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
"$PY" -m pip wheel --quiet --no-deps --wheel-dir "$WORK/dist" "$ROOT"
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet "$WORK"/dist/haechi-*.whl
cd "$WORK"  # not the source tree: the installed package must be what runs
export HAECHI_HOME="$WORK/home"
unset HAECHI_BROKER_URL HAECHI_DATABASE_URL HAECHI_STORAGE_URL 2>/dev/null || true
"$WORK/venv/bin/haechi" demo --originals 3 --distractors 5
"$WORK/venv/bin/haechi" doctor
echo "wheel check: pip install of the wheel alone runs demo and doctor"
