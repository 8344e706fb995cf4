#!/usr/bin/env bash
# The GPU check (scripts/gpu_check.py) under a time limit: about 8 minutes on one GPU.
#   scripts/gpu_check.sh [--out DIR] [--short] [--chapters PATTERN] ...
# It writes DIR/gpu_check.json and DIR/gpu_check.md; on a CPU it skips what needs CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
exec timeout "${GPU_CHECK_LIMIT_S:-480}" "$PYTHON" scripts/gpu_check.py "$@"
