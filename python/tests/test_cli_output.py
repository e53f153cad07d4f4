"""What the waiting commands print survives a pipe and Ctrl-C (SIGINT): `submit --wait` says which sweep
keeps running and how to follow it; `watch > file` keeps every status it printed."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from conftest import BINARY, Cluster, make_dataset, requires_binary, write_grid

pytestmark = requires_binary


def client_environment() -> dict:
    return {k: v for k, v in os.environ.items()
            if k not in ("TRAC_SWEEP_CURVE_SECRET", "TRAC_SWEEP_SERVER_KEY", "TRAC_SWEEP_COORDINATOR")}


def test_submit_wait_interrupted_names_the_sweep_that_keeps_running_and_watch_keeps_its_output(tmp_path):
    cluster = Cluster(tmp_path)
    try:
        cluster.start_coordinator()  # no worker: the sweep waits, so the commands wait too
        make_dataset(tmp_path / "data.hdf5")
        grid = write_grid(tmp_path, "interrupted", "data.hdf5")
        out, err = tmp_path / "submit.out", tmp_path / "submit.err"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            submit = subprocess.Popen([str(BINARY), "submit", str(grid), "--wait", "--coordinator", cluster.endpoint],
                                      stdout=stdout, stderr=stderr, env=client_environment())
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and "0/1 done" not in err.read_text():
                time.sleep(0.1)
            submit.send_signal(signal.SIGINT)
            assert submit.wait(timeout=10) == 130
        sweep = out.read_text().strip()
        assert len(sweep) == 8, f"the sweep id reached the file before Ctrl-C: {out.read_text()!r}"
        note = err.read_text()
        assert f"interrupted: sweep {sweep} (interrupted) keeps running on the coordinator" in note, note
        assert f"trac-sweep watch {sweep}" in note, note

        watched = tmp_path / "watch.out"
        with open(watched, "wb") as stdout:
            watch = subprocess.Popen([str(BINARY), "watch", sweep, "--interval", "0.3", "--coordinator",
                                      cluster.endpoint], stdout=stdout, stderr=subprocess.DEVNULL,
                                     env=client_environment())
            time.sleep(2.0)
            watch.send_signal(signal.SIGINT)
            watch.wait(timeout=10)
        text = watched.read_text()
        assert text.count("== ") >= 2 and text.count("SWEEP") >= 2, f"every status printed is in the file: {text!r}"
        assert "\x1b[" not in text, "no terminal escapes in a file"
        assert sweep in text
    finally:
        cluster.stop()
