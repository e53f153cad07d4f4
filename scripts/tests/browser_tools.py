"""What the headless-browser tests share: the trac-sweep binary they drive, Debian's chromium, and the
flags that keep the browser off the network."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_NO_NETWORK = ["--proxy-server=http://127.0.0.1:9", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-default-apps",
               "--disable-domain-reliability", "--disable-client-side-phishing-detection", "--no-first-run",
               "--no-default-browser-check", "--disable-extensions"]


def offline_flags(loopback: bool = False) -> list[str]:
    """Never let the browser reach the network: no DNS (but 127.0.0.1 when `loopback`), every proxied
    request to a closed local port."""
    rules = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" if loopback else "MAP * ~NOTFOUND"
    return [f"--host-resolver-rules={rules}", *_NO_NETWORK]


def binary() -> Path:
    return Path(os.environ.get("TRAC_SWEEP_BIN") or ROOT / ".build/release/trac-sweep")


def chromium() -> str | None:
    return shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def require_tools(command: str, option: str) -> tuple[Path, str]:
    """The binary and chromium. Skips when the binary is not built or chromium is missing (running
    pytest alone); a built binary whose `command --help` does not offer `option` is a failure."""
    trac_sweep = binary()
    if not trac_sweep.exists():
        pytest.skip(f"{trac_sweep} is not built (swift build -c release)")
    probe = subprocess.run([str(trac_sweep), command, "--help"], capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0 and option in probe.stdout, \
        f"`trac-sweep {command} --help` does not offer {option}: {probe.stdout}{probe.stderr}"
    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium; scripts/setup.sh installs it)")
    return trac_sweep, browser
