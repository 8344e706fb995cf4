#!/usr/bin/env bash
# Headless Chromium, its WebDriver and Selenium: what tests/test_browser.py needs to drive
# JupyterLab in a real browser. Debian/Ubuntu (apt-get, run as root or with sudo).
# Usage: scripts/install_browser.sh            (VENV=.venv by default)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    echo "chromium and chromedriver are already installed"
else
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "error: run as root (apt-get needs it)" >&2; exit 1; }
        SUDO="sudo"
    fi
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium chromium-driver
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "error: no virtual environment at $VENV (run \`make env\` first)" >&2
    exit 1
fi
if "$VENV/bin/python" -c "import selenium" 2>/dev/null; then
    echo "selenium is already installed in $VENV"
else
    "$VENV/bin/python" -m pip install selenium
fi
echo "browser: $(chromium --version); driver: $(chromedriver --version)"
