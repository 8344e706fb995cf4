"""Create or refresh the project's environment (.venv), then run a command inside it.

    python3 scripts/env.py run [ARGS...]    # the main job: python -m podnet_lib run --preset digits
    python3 scripts/env.py test [ARGS...]   # the whole test suite: python -m pytest
    python3 scripts/env.py lab | book | env

The environment is (re)installed only when pyproject.toml changed since the last install, so a
second call starts in seconds. `make run`, `make test`, ... call this script; it needs nothing but
Python 3.10+ (no make).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("VENV", ROOT / ".venv"))
STAMP = VENV / ".installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")

COMMANDS = {
    "run": [str(PY), "-m", "podnet_lib", "run", "--preset", "digits"],
    "test": [str(PY), "-m", "pytest"],
    "lab": [str(BIN / "jupyter"), "lab", "notebooks/"],
    "book": [str(PY), "scripts/build_book.py"],
    "env": [],
}


def _fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_environment() -> None:
    """A venv with the project installed (editable, with its test and notebook extras)."""
    if STAMP.is_file() and STAMP.read_text().strip() == _fingerprint() and PY.exists():
        return
    if not PY.exists():
        print(f"creating the environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing the project and its dependencies (the first time takes a few minutes)", flush=True)
    subprocess.run([str(PY), "-m", "pip", "install", "--upgrade", "pip"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([str(PY), "-m", "pip", "install", "-e", f"{ROOT}[dev,notebooks]"], check=True)
    STAMP.write_text(_fingerprint())


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        print(f"command must be one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    if sys.version_info < (3, 10):
        print(f"Python 3.10 or newer is needed, this is {sys.version.split()[0]}", file=sys.stderr)
        return 2
    ensure_environment()
    command = COMMANDS[argv[0]]
    if not command:
        return 0
    return subprocess.run(command + argv[1:], cwd=ROOT).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
