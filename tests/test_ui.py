"""The way a student meets the kit: JupyterLab on 127.0.0.1, each solution notebook opened in headless Chromium,
"Run All Cells" clicked in the menu, the notebook saved, and its outputs inspected — no error output, no wall of
TensorFlow log lines, plots shown, equations rendered. A screenshot per notebook lands in build/ui-screenshots/.

Needs Debian's chromium (`apt-get install chromium`, done by .ci/run) and the playwright package (requirements.txt);
skipped where either is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
SCREENSHOTS = ROOT / "build" / "ui-screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TOKEN = "mitdl-ui-test"
LOG_NOISE = re.compile(r"^[IWE]\d{4} |oneDNN custom operations|absl::InitializeLog|cuda_platform", re.M)
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]
# JupyterLab settings for a quiet, deterministic session: no news pop-up, no autosave, every cell in the DOM, and
# the notebook's own kernel started without asking (on a busy machine JupyterLab otherwise puts up "Select Kernel").
SETTINGS = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension:plugin": {"autosave": False},
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none", "autoStartDefaultKernel": True},
}

pytestmark = [pytest.mark.notebook, pytest.mark.ui]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    work = tmp_path_factory.mktemp("ui")
    (work / "solutions").mkdir()
    for path in SOLUTIONS:  # copies: the browser session must never write to the repository's notebooks
        shutil.copy(path, work / "solutions" / path.name)
    settings = work / "settings"
    for plugin, values in SETTINGS.items():  # user settings: <dir>/<package>/<plugin>.jupyterlab-settings
        package, name = plugin.split(":")
        (settings / package).mkdir(parents=True, exist_ok=True)
        (settings / package / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
    env = {**os.environ, "MITDL_FAST": "1", "MITDL_STRICT_CHECKS": "1", "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    env.pop("MPLBACKEND", None)  # plots must render inline, as students see them
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={work}",
         "--LabApp.news_url=", "--ServerApp.open_browser=False", "--allow-root"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("JupyterLab did not start on 127.0.0.1 within 60 s")
            time.sleep(0.5)
    yield url, work
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


@pytest.fixture(scope="module")
def browser(lab_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook on screen (one per fresh workspace)


def _prompts(page) -> list[str]:
    return page.eval_on_selector_all(f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt",
                                     "els => els.map(e => e.textContent.trim())")


def _status(page) -> str | None:
    return page.get_attribute(f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator", "data-status")


def _dismiss_dialogs(page) -> list[str]:
    """Close every modal dialog JupyterLab has put up ("Select Kernel" when the kernel starts slowly, a kernel
    restart notice, a lost connection): its accept button, else its close or cancel button, else Escape.
    Returns what each dialog said, so that a failure can name it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    said = []
    for _ in range(5):
        dialogs = page.locator(".jp-Dialog")
        if not dialogs.count():
            break
        dialog = dialogs.last  # the one on top: dialogs below it cannot be clicked
        try:
            said.append(" ".join(dialog.inner_text(timeout=5_000).split())[:200])
        except PlaywrightTimeout:  # it closed while being read
            continue
        for selector in (".jp-mod-accept", ".jp-Dialog-close-button", ".jp-mod-reject"):
            button = dialog.locator(selector)
            if button.count():
                try:
                    button.first.click(timeout=5_000)
                    break
                except PlaywrightTimeout:
                    pass
        else:
            page.keyboard.press("Escape")
        page.wait_for_timeout(500)
    return said


def _wait_for_run_all(page, name: str, dialogs: list[str], limit: float = 300) -> bool:
    """Wait for "Run All" to finish, closing any dialog that comes up meanwhile (its text goes to `dialogs`).
    True when every code cell ran, or the run stopped at an error (the saved notebook is checked afterwards);
    False when the run stalled without an error (e.g. the click came too early)."""
    deadline, quiet = time.time() + limit, 0
    stderr = f"{NOTEBOOK} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    while time.time() < deadline:
        dialogs += _dismiss_dialogs(page)
        prompts = _prompts(page)
        idle = _status(page) == "idle"
        if prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts) and idle:
            return True
        if "[*]:" not in prompts and _kernel_name(page) == "No Kernel":  # nothing can run: attach one, click again
            _attach_kernel(page, name, dialogs, limit=5)
            return False
        quiet = quiet + 1 if idle and "[*]:" not in prompts else 0
        if quiet >= 15:
            return page.locator(stderr).count() > 0
        page.wait_for_timeout(1000)
    raise AssertionError(f"{name}: cells still running after {limit:.0f} s: {_prompts(page)} (dialogs: {dialogs})")


def _start_kernel(url: str, path: Path) -> None:
    """Start the notebook's kernel through the server's REST API before the page opens the notebook: JupyterLab
    then connects to this session instead of choosing a kernel itself. On a busy machine, before it had loaded the
    list of kernels, it once left the first notebook with "No Kernel" (a fresh-clone CI run; the screenshot showed
    it). (The server calls the kernel "starting" until a client connects, so the page waits for it to be idle.)"""
    kernel = nbformat.read(path, as_version=4).metadata.get("kernelspec", {}).get("name", "python3")
    body = json.dumps({"path": f"solutions/{path.name}", "type": "notebook", "name": path.name,
                       "kernel": {"name": kernel}}).encode()
    request = urllib.request.Request(f"{url}/api/sessions?token={TOKEN}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert json.load(response)["kernel"]["name"] == kernel


def _kernel_name(page) -> str:
    return (page.text_content(f"{NOTEBOOK} .jp-Toolbar-kernelName", timeout=10_000) or "").strip()


def _attach_kernel(page, name: str, dialogs: list[str], limit: float = 60) -> None:
    """Wait until the notebook on screen shows a kernel; if it still says "No Kernel" after `limit` seconds,
    choose one through Kernel > Change Kernel… (its dialog preselects the notebook's own)."""
    deadline = time.time() + limit
    while time.time() < deadline:
        dialogs += _dismiss_dialogs(page)
        if _kernel_name(page) not in ("", "No Kernel"):
            return
        page.wait_for_timeout(1000)
    page.click("div.lm-MenuBar-itemLabel:text-is('Kernel')", timeout=10_000)
    page.click("li.lm-Menu-item[data-command='kernelmenu:change']", timeout=10_000)
    page.wait_for_selector(".jp-Dialog", timeout=10_000)
    dialogs += _dismiss_dialogs(page)  # its accept button selects the preselected kernel
    page.wait_for_timeout(2000)
    assert _kernel_name(page) not in ("", "No Kernel"), f"{name}: no kernel after Change Kernel (dialogs: {dialogs})"


def _run_all(page, name: str, dialogs: list[str], limit: float = 240) -> None:
    """Click Run > Run All Cells and wait for the run. A click can land before JupyterLab is ready for it (then
    nothing runs), or be blocked by a dialog that came up late (then it is closed): both are retried for `limit`
    seconds, and a failure says which dialogs were seen."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.time() + limit
    while True:
        dialogs += _dismiss_dialogs(page)
        try:
            page.click("div.lm-MenuBar-itemLabel:text-is('Run')", timeout=10_000)
            page.click("li.lm-Menu-item[data-command='runmenu:run-all']", timeout=10_000)
        except PlaywrightTimeout:
            page.keyboard.press("Escape")  # close a half-open menu before the next try
            if time.time() > deadline:
                raise AssertionError(f"{name}: the Run menu could not be used for {limit:.0f} s "
                                     f"(dialogs: {dialogs})") from None
            continue
        if _wait_for_run_all(page, name, dialogs) or time.time() > deadline:
            return


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_run_all_cells_in_jupyterlab(path, lab_server, browser):
    url, work = lab_server
    saved = work / "solutions" / path.name
    before = saved.stat().st_mtime
    _start_kernel(url, saved)
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    try:
        # A fresh workspace (`?reset`) so no notebook from an earlier test is open beside this one.
        page.goto(f"{url}/lab/workspaces/ui-{path.stem}/tree/solutions/{path.name}?reset&token={TOKEN}")
        page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=60_000)
        dialogs: list[str] = []
        _attach_kernel(page, path.name, dialogs)
        page.wait_for_function(f"() => document.querySelector('{NOTEBOOK} .jp-Notebook-ExecutionIndicator')"
                               "?.getAttribute('data-status') === 'idle'", timeout=60_000)
        _run_all(page, path.name, dialogs)
        math = page.locator(f"{NOTEBOOK} mjx-container").count()
        page.keyboard.press("Control+s")
        for _ in range(60):
            if saved.stat().st_mtime != before:
                break
            page.wait_for_timeout(500)
    finally:  # on a failure too: the screenshot shows what was on screen
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{path.stem}.png"))
        page.close()

    nb = nbformat.read(saved, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [(i, o.ename, o.evalue[:200]) for i, c in enumerate(code) for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: error outputs in the browser run: {errors} (dialogs: {dialogs})"
    never_ran = [i for i, c in enumerate(code) if c.execution_count is None]
    assert not never_ran, f"{path.name}: code cells {never_ran} never ran (dialogs: {dialogs})"
    noise = [i for i, c in enumerate(code) for o in c.outputs
             if o.output_type == "stream" and o.name == "stderr" and LOG_NOISE.search(o.text)]
    assert not noise, f"{path.name}: TensorFlow log lines shown to the student in cells {noise}"
    images = sum(1 for c in code for o in c.outputs if "image/png" in o.get("data", {}))
    plotting = sum("plt.show()" in c.source or "plot." in c.source for c in code)
    assert images >= 1 or plotting == 0, f"{path.name}: plots were drawn but none showed"
    has_math = any(re.search(r"\$[^$]+\$", c.source) for c in nb.cells if c.cell_type == "markdown")
    assert math > 0 or not has_math, f"{path.name}: equations did not render"
