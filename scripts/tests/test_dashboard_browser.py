"""The dashboard in a real headless browser (issue 15): a real coordinator, a real worker training a tiny
sweep with the real trainer, and `trac-sweep dashboard`, all on 127.0.0.1. Debian's chromium opens the
overview while the sweep runs and again after it finished: the numbers on the page change, the page's
script updated it from the server, a screenshot is not blank, and the browser's network log shows no
request to anything but 127.0.0.1.

The binary is $TRAC_SWEEP_BIN or .build/release/trac-sweep. Skipped, with the reason, when it is not
built or chromium is not installed (scripts/setup.sh --for-tests installs it); a built binary without
the `dashboard` command fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser_tools import ROOT, offline_flags, require_tools

OFFLINE = offline_flags(loopback=True)
RUNS = 6


@pytest.fixture(scope="module")
def tools():
    return require_tools("dashboard", "--token-file")


class Processes:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, *args: str) -> Path:
        log = self.tmp / f"{name}.log"
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        handle = open(log, "wb")
        self.started.append(subprocess.Popen(list(args), stdout=handle, stderr=subprocess.STDOUT, env=env,
                                             cwd=self.tmp))
        return log

    def stop(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.started):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_line(log: Path, pattern: str, timeout: float = 30) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text(errors="replace") if log.exists() else "")
        if match:
            return match
        time.sleep(0.05)
    raise AssertionError(f"{log.name} never said {pattern!r}:\n{log.read_text(errors='replace')[-3000:]}")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


class Overview(HTMLParser):
    """The sweep row's numbers (`data-field` cells) and the page's connection badge."""

    def __init__(self, sweep: str):
        super().__init__()
        self.sweep, self.in_row, self.field, self.connection = sweep, False, None, False
        self.numbers: dict[str, str] = {}
        self.badge = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and a.get("data-sweep") == self.sweep:
            self.in_row = True
        elif self.in_row and "data-field" in a:
            self.field = a["data-field"]
            self.numbers.setdefault(self.field, "")
        if a.get("id") == "connection":
            self.connection = True

    def handle_endtag(self, tag):
        if tag == "tr":
            self.in_row = False
        if tag == "td":
            self.field = None
        if tag == "span":
            self.connection = False

    def handle_data(self, data):
        if self.in_row and self.field:
            self.numbers[self.field] += data
        if self.connection:
            self.badge += data


def page_requests(netlog: Path) -> list[str]:
    """The URLs the page asked for, from chromium's network log: the requests made for the page's site
    (its network isolation key) or by it (its initiator). Chromium's own background requests
    (component updates, sign-in, time), which the resolver rules above stop anyway, are not the page's."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] != start or "url" not in params:
            continue
        if "127.0.0.1" in params.get("network_isolation_key", "") or params.get("initiator", "").startswith("http"):
            urls.append(params["url"])
    return urls


def open_page(chrome: str, tmp: Path, name: str, url: str, screenshot: bool) -> tuple[Overview, Path | None, list[str]]:
    """Dumps the page's DOM after its script had time to refresh it once, takes a screenshot if asked, and
    returns every URL the page asked for."""
    common = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--user-data-dir={tmp / 'profile'}", *OFFLINE, "--net-log-capture-mode=Default"]
    netlog = tmp / f"{name}.netlog.json"
    dom = subprocess.run([chrome, *common, f"--log-net-log={netlog}", "--virtual-time-budget=3000", "--dump-dom",
                          url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    urls = page_requests(netlog)
    shot = None
    if screenshot:
        shot = tmp / f"{name}.png"
        netlog = tmp / f"{name}.screenshot.netlog.json"
        taken = subprocess.run([chrome, *common, f"--log-net-log={netlog}", f"--screenshot={shot}",
                                "--window-size=1280,900", "--hide-scrollbars", "--virtual-time-budget=3000", url],
                               capture_output=True, text=True, timeout=120)
        assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
        urls += page_requests(netlog)
    return parse_dom(dom.stdout, url), shot, urls


def parse_dom(html: str, url: str) -> Overview:
    sweep = urllib.parse.parse_qs(urllib.parse.urlparse(url).query).get("sweep", [""])[0]
    page = Overview(sweep)
    page.feed(html)
    page.dom = html
    return page


def not_blank(shot: Path) -> None:
    from PIL import Image
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 900)
    colors = image.getcolors(maxcolors=1 << 20) or []
    assert len(colors) > 50, f"{shot.name} looks blank: {len(colors)} colours"
    # the dark header bar and the page's text are there: not one colour over nearly everything
    assert max(count for count, _ in colors) < 0.97 * image.size[0] * image.size[1]


def test_overview_follows_a_running_sweep(tools, tmp_path):
    trac_sweep, chrome = tools
    tmp = tmp_path
    dataset = tmp / "data" / "tiny.hdf5"
    dataset.parent.mkdir()
    made = subprocess.run([sys.executable, str(ROOT / "scripts/make_dataset.py"), "OfflineBallCircle-v0",
                           "--episodes", "6", "--seed", "0", "--out", str(dataset)],
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    grid = {"name": "browser-tiny", "task": "OfflineBallCircle-v0", "dataset": str(dataset), "algorithm": "trac",
            "base": {"bc_steps": 5, "steps": 20, "batch_size": 16}, "cost_thresholds": [10],
            "seeds": list(range(RUNS)), "eval": {"episodes": 0}}
    (tmp / "grid.json").write_text(json.dumps(grid))

    processes = Processes(tmp)
    try:
        coordinator_log = processes.start("coordinator", str(trac_sweep), "coordinator", "--bind", "tcp://127.0.0.1:*",
                                          "--state", str(tmp / "state"), "--datasets", str(dataset.parent),
                                          "--heartbeat-interval", "0.2", "--audit", "0")
        endpoint = wait_for_line(coordinator_log, r"endpoint=(tcp://127\.0\.0\.1:[0-9]+)").group(1)
        submitted = subprocess.run([str(trac_sweep), "submit", str(tmp / "grid.json"), "--coordinator", endpoint],
                                   capture_output=True, text=True, timeout=60)
        assert submitted.returncode == 0, submitted.stderr
        sweep = submitted.stdout.strip()
        dashboard_log = processes.start("dashboard", str(trac_sweep), "dashboard", "--coordinator", endpoint,
                                        "--listen", "127.0.0.1:0", "--interval", "0.2")
        base = wait_for_line(dashboard_log, r"dashboard listening on (http://127\.0\.0\.1:[0-9]+)/").group(1)
        processes.start("worker", str(trac_sweep), "worker", "--connect", endpoint, "--slots", "1",
                        "--work-dir", str(tmp / "worker"), "--no-evaluate", "--grace", "1")

        # While it runs: one run finished, others still to go.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            row = next((s for s in get_json(base + "/api/overview")["sweeps"] if s["id"] == sweep), None)
            if row and row["done"] >= 1:
                break
            time.sleep(0.1)
        assert row and 1 <= row["done"] < RUNS, f"the sweep was not caught running: {row}"
        url = f"{base}/?sweep={sweep}"
        during, _, urls_during = open_page(chrome, tmp, "during", url, screenshot=False)
        assert during.numbers, f"no row of sweep {sweep} on the page:\n{during.dom[:3000]}"
        assert "live, updated" in during.badge, f"the page's script did not refresh it: {during.badge!r}"
        done_during = int(during.numbers["done"])
        assert int(during.numbers["total"]) == RUNS
        assert done_during < RUNS, during.numbers

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            row = next(s for s in get_json(base + "/api/overview")["sweeps"] if s["id"] == sweep)
            if row["done"] == RUNS:
                break
            time.sleep(0.2)
        assert row["done"] == RUNS, f"the sweep did not finish: {row}\n{(tmp / 'worker.log').read_text()[-3000:]}"
        after, shot, urls_after = open_page(chrome, tmp, "after", url, screenshot=True)
        assert int(after.numbers["done"]) == RUNS
        assert int(after.numbers["pending"]) == 0 and int(after.numbers["running"]) == 0
        assert after.numbers["eta"].strip() == "finished"
        assert after.numbers["percent"].strip() == "100%"
        assert float(after.numbers["cpu_hours"]) > 0, after.numbers
        assert after.numbers != during.numbers

        not_blank(shot)
        urls = urls_during + urls_after
        assert any(u.startswith(base + "/parts/overview") for u in urls), "the script fetched the live part"
        outside = sorted({u for u in urls if urllib.parse.urlparse(u).hostname != "127.0.0.1"
                          and not u.startswith(("data:", "about:", "blob:"))})
        assert not outside, f"requests left 127.0.0.1: {outside}"
    finally:
        processes.stop()
