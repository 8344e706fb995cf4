"""The chapters' widgets in a real browser: JupyterLab + headless Chromium, driven by Selenium.

For the pooling (01), proxies (02) and full-run (05) chapters: open the notebook, Run > Run All
Cells, wait for the last cell, move controls of its interactive figures (found by their labels,
'N:label' for the N-th interactive figure of the page) and check that each figure is redrawn,
without an error in the widget or a traceback in any cell. Screenshots go to the test's tmp dir
(paths printed; `pytest -s` shows them).

Needs Chromium, chromedriver and selenium (scripts/install_browser.sh). Without them the
test skips, except under CI (CI=true), where it fails.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
JUPYTER = Path(sys.executable).with_name("jupyter")
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1400,1000")
RUN_TIMEOUT = 150          # seconds for one chapter's Run All in fast mode
REDRAW_TIMEOUT = 60        # seconds for a figure to be redrawn after a control moved
# JupyterLab settings for the test: every cell in the page (no windowing), no autosave (the
# notebooks in the repository must stay without outputs), no news or update checks.
LAB_SETTINGS = {
    "notebook-extension/tracker": {"windowingMode": "none"},
    "docmanager-extension/plugin": {"autosave": False},
    "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
STDERR = '[data-mime-type="application/vnd.jupyter.stderr"]'


def _unavailable(reason: str) -> None:
    """Skip outside CI; under CI (CI=true) the browser test must run, so fail instead."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser test cannot run under CI: {reason}")
    pytest.skip(reason)


def _browser_binaries() -> tuple[str, str]:
    chromium = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        _unavailable("no Chromium or chromedriver: run scripts/install_browser.sh")
    try:
        import selenium  # noqa: F401
    except ImportError:
        _unavailable("no selenium in this environment: run scripts/install_browser.sh")
    if not JUPYTER.is_file():
        _unavailable(f"no {JUPYTER}: install the notebooks extra (make env)")
    return chromium, driver


@dataclass
class Lab:
    url: str
    token: str

    def api(self, path: str, method: str = "GET") -> object:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self) -> None:
        """End every session (and so its kernel) of this server."""
        try:
            for session in self.api("/api/sessions") or []:
                self.api(f"/api/sessions/{session['id']}", method="DELETE")
        except OSError:
            pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser_tools() -> tuple[str, str]:
    return _browser_binaries()


@pytest.fixture(scope="module")
def lab(browser_tools, tmp_path_factory):
    """JupyterLab on a free local port with a random token, fast mode, isolated settings."""
    home = tmp_path_factory.mktemp("lab")
    for name, values in LAB_SETTINGS.items():
        path = home / "settings" / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(24)
    env = {**os.environ, "PODNET_FAST": "1", "PODNET_OUT": str(home / "runs"), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env.pop("MPLBACKEND", None)                      # the kernel's inline backend draws the figures
    log = open(home / "lab.log", "w")
    server = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={ROOT}", f"--LabApp.user_settings_dir={home / 'settings'}",
         f"--LabApp.workspaces_dir={home / 'workspaces'}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    running = Lab(f"http://127.0.0.1:{port}", token)
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited ({server.returncode}):\n{(home / 'lab.log').read_text()[-3000:]}")
            try:
                running.api("/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in 90 s:\n{(home / 'lab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield running
    finally:
        running.shut_down_kernels()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def driver(browser_tools, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_tools
    profile = tmp_path_factory.mktemp("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile / 'profile'}",):
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=Service(chromedriver, log_output=str(profile / "driver.log")))
    browser.set_page_load_timeout(60)
    yield browser
    browser.quit()


@pytest.fixture
def untouched_notebook(notebook: str):
    """The chapter under test must not be saved with outputs by the browser session (autosave is
    off; this is the safety net), and the checkpoint JupyterLab makes when it opens a notebook is
    removed afterwards. Nothing else is touched: other chapters may be edited meanwhile."""
    path = ROOT / "notebooks" / notebook
    before = path.read_bytes()
    checkpoint = path.parent / ".ipynb_checkpoints" / f"{path.stem}-checkpoint.ipynb"
    had_checkpoint = checkpoint.exists()
    yield
    if not had_checkpoint and checkpoint.exists():
        checkpoint.unlink()
        if not any(checkpoint.parent.iterdir()):
            checkpoint.parent.rmdir()
    saved = any(c.get("outputs") for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    if saved:
        path.write_bytes(before)
    assert not saved, f"the browser session saved {notebook} with its outputs (restored)"


# --- driving JupyterLab --------------------------------------------------------------------------
def _wait(driver, condition, timeout: float, message: str):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.5).until(condition)
    except TimeoutException:
        pytest.fail(f"{message} (waited {timeout:.0f} s)")


def _tracebacks(driver) -> list[str]:
    return [e.text for e in driver.find_elements("css selector", f".jp-OutputArea-output{STDERR}")
            if "Traceback" in e.text or "Error" in e.text.split("\n")[-1]]


def _kernel_ready(driver, lab: Lab, notebook: str) -> bool:
    """The server's kernel for `notebook` is idle and the page is connected to it (the status bar
    reads "<kernel> | Idle"; before that it reads "No Kernel | Initializing", then "Connecting")."""
    sessions = [s for s in lab.api("/api/sessions") or [] if s["path"].endswith(notebook)]
    status = [e.text for e in driver.find_elements("css selector", ".jp-StatusBar-Widget")]
    return (bool(sessions) and sessions[0]["kernel"]["execution_state"] == "idle"
            and any(re.search(r"^(?!No Kernel).+ \| Idle$", t, re.MULTILINE) for t in status))


def _run_all(driver, lab: Lab, notebook: str, shots: Path) -> None:
    """Open the notebook, wait for its kernel, Run > Run All Cells, wait until every code cell ran."""
    workspace = Path(notebook).stem                  # a fresh workspace: only this notebook open
    driver.get(f"{lab.url}/lab/workspaces/{workspace}/tree/notebooks/{notebook}?reset&token={lab.token}")
    _wait(driver, lambda d: d.find_elements("css selector", ".jp-NotebookPanel .jp-CodeCell"), 60,
          f"{notebook} did not open")
    _wait(driver, lambda d: _kernel_ready(d, lab, notebook), 90, f"the kernel of {notebook} did not start")
    _wait(driver, lambda d: [e for e in d.find_elements("css selector", ".lm-MenuBar-itemLabel")
                             if e.text == "Run"], 20, "no Run menu")[0].click()
    item = ("//li[contains(@class,'lm-Menu-item')]"
            "[./div[contains(@class,'lm-Menu-itemLabel') and normalize-space()='Run All Cells']]")
    _wait(driver, lambda d: d.find_elements("xpath", item), 10, "no 'Run All Cells' in the Run menu")[0].click()

    def finished(d) -> bool:
        errors = _tracebacks(d)
        if errors:
            d.save_screenshot(str(shots / f"{Path(notebook).stem}-error.png"))
            pytest.fail(f"a cell of {notebook} raised:\n{errors[0][-3000:]}")
        prompts = d.execute_script(
            "return [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell "
            ".jp-InputPrompt')].map(e => e.textContent.trim())")
        idle = d.find_elements("css selector", '.jp-Notebook-ExecutionIndicator[data-status="idle"]')
        return bool(prompts and idle) and all(p[1:-2].strip().isdigit() for p in prompts)

    began = time.monotonic()
    _wait(driver, finished, RUN_TIMEOUT, f"Run All of {notebook} did not finish")
    print(f"{notebook}: all cells ran in {time.monotonic() - began:.0f} s")
    driver.save_screenshot(str(shots / f"{Path(notebook).stem}-after-run-all.png"))


def _control(spec: str) -> tuple[int | None, str]:
    """'N:label' -> (N, label): the control `label` of the N-th interactive widget of the page
    (1-based, in page order); a plain 'label' -> (None, label): the first widget that has it."""
    number, sep, label = spec.partition(":")
    return (int(number), label) if sep and number.isdigit() else (None, spec)


def _interact_box(driver, spec: str):
    """The interactive widget (ipywidgets.interact) that `spec` names (see `_control`)."""
    number, label = _control(spec)
    with_label = (f"[.//label[contains(@class,'widget-label') and normalize-space()='{label}']]")
    xpath = (f"(//div[contains(@class,'widget-interact')])[{number}]{with_label}" if number
             else f"//div[contains(@class,'widget-interact')]{with_label}")
    deadline = time.monotonic() + 30                 # widgets render a moment after their cell ran
    while not (boxes := driver.find_elements("xpath", xpath)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if not boxes:
        found = [e.text for e in driver.find_elements("css selector", ".widget-label") if e.text]
        pytest.fail(f"no interactive widget {spec!r} with a control labelled {label!r}; labels on the page: {found}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", boxes[0])
    return boxes[0]


def _figure(box) -> str:
    images = box.find_elements("css selector", ".widget-output img")
    return images[0].get_attribute("src") if images else ""


def _move(driver, box, label: str) -> str:
    """Change the control labelled `label`: the next option of a dropdown, one step of a slider.
    Returns 'old -> new' as the widget shows it."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    control = box.find_element("xpath", f".//div[contains(@class,'widget-inline-hbox')]"
                                        f"[./label[normalize-space()='{label}']]")
    selects = control.find_elements("css selector", "select")
    if selects:
        menu = Select(selects[0])
        texts = [o.text for o in menu.options]
        old = menu.first_selected_option.text
        new = texts[(texts.index(old) + 1) % len(texts)]
        menu.select_by_visible_text(new)
        return f"{old} -> {new}"
    readout = control.find_element("css selector", ".widget-readout")
    old = readout.text
    handle = control.find_element("css selector", ".noUi-handle")
    handle.click()
    handle.send_keys(Keys.ARROW_RIGHT)
    if readout.text == old:                         # at its maximum: one step down instead
        handle.send_keys(Keys.ARROW_LEFT)
    _wait(driver, lambda d: readout.text != old, 10, f"the control {label!r} did not move")
    return f"{old} -> {readout.text}"


def _check_controls(driver, notebook: str, labels: tuple[str, ...], shots: Path) -> None:
    for i, label in enumerate(labels):
        stem = f"{Path(notebook).stem}-{i}-{re.sub(r'[^A-Za-z0-9]+', '-', label).strip('-') or 'control'}"
        box = _interact_box(driver, label)
        before = _wait(driver, lambda d: _figure(box), REDRAW_TIMEOUT, f"{notebook}: no figure beside {label!r}")
        box.screenshot(str(shots / f"{stem}-before.png"))
        change = _move(driver, box, _control(label)[1])
        _wait(driver, lambda d: _figure(box) not in ("", before), REDRAW_TIMEOUT,
              f"{notebook}: the figure did not change when {label!r} moved ({change})")
        time.sleep(0.5)                             # let the new image finish painting
        box.screenshot(str(shots / f"{stem}-after.png"))
        output = box.find_element("xpath", "./ancestor::div[contains(@class,'jp-OutputArea')][1]")
        assert not output.find_elements("css selector", STDERR), f"{notebook}: the widget printed an error"
        assert "Error displaying widget" not in output.text and "Traceback" not in output.text
        print(f"{notebook}: {label!r} {change}: figure redrawn; screenshots {shots / stem}-{{before,after}}.png")
    assert not _tracebacks(driver), f"{notebook}: a cell shows a traceback"


@pytest.mark.slow
@pytest.mark.parametrize("notebook, labels", [
    ("01_pooled_outputs_distillation.ipynb", ("1:stage", "1:digit", "2:perturbation", "2:pooling",
                                              "3:stage", "3:pooling", "3:digit")),
    ("02_local_similarity_classifier.ipynb", ("η (scale)", "K")),
    ("05_full_incremental_run.ipynb", ("method", "inference", "up to task", "drift after task", "loss method",
                                       "loss task", "grid inference", "grid when")),
], ids=["pooling", "proxies", "full-run"])
def test_widgets_redraw_in_a_real_browser(notebook, labels, lab, driver, untouched_notebook, tmp_path):
    assert (ROOT / "notebooks" / notebook).is_file(), f"notebooks/{notebook} is missing"
    _run_all(driver, lab, notebook, tmp_path)
    _check_controls(driver, notebook, labels, tmp_path)
    lab.shut_down_kernels()                          # one kernel at a time on a small machine
    print(f"screenshots: {tmp_path}")
