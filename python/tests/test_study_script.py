"""sweeps/run-study.sh, the paper-study recipe of sweeps/README.md, on a real coordinator and worker:
two grid files that share a run are submitted together, the shared run is trained once, and each file
gets its own report."""

from __future__ import annotations

import json
import os
import subprocess

from conftest import BINARY, ROOT, Cluster, make_dataset, requires_binary, write_grid


@requires_binary
def test_a_study_of_two_files_trains_a_shared_run_once_and_reports_each_file(tmp_path):
    dataset = make_dataset(tmp_path / "ballcircle.hdf5")
    first = write_grid(tmp_path, "study-first", str(dataset), alphas=(0.1, 0.2), steps=40)
    second = write_grid(tmp_path, "study-second", str(dataset), alphas=(0.2, 0.5), steps=40)
    cluster = Cluster(tmp_path)
    try:
        endpoint = cluster.start_coordinator()
        cluster.start_worker("a", slots=2)
        env = dict(os.environ, TRAC_SWEEP_COORDINATOR=endpoint, OPENBLAS_NUM_THREADS="1",
                   PATH=f"{BINARY.parent}:{os.environ['PATH']}")
        command = [str(ROOT / "sweeps" / "run-study.sh"), "--reports", str(tmp_path / "reports"), "--no-figures",
                   str(first), str(second)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr + cluster.logs()
        # The plan printed first counts the shared run once (2 runs in each file, 1 of the second's new)
        # and the BC stage once: the first file makes its unit, the second's new run starts from it.
        plan = [line.split() for line in done.stdout.splitlines() if line.startswith("study-")]
        assert [row[:4] for row in plan] == [["study-first", "2", "2", "1"], ["study-second", "2", "1", "0"]], \
            done.stdout

        rows = {}
        for name in ("study-first", "study-second"):
            results = cluster.cli("results", name, "--format", "json")
            assert results.returncode == 0, results.stderr
            rows[name] = {row["run_id"]: row for row in json.loads(results.stdout)}
            report = tmp_path / "reports" / name
            assert (report / "index.html").is_file() and (report / "report.md").is_file(), name
            assert name in (report / "report.md").read_text()
        shared = set(rows["study-first"]) & set(rows["study-second"])
        assert len(shared) == 1, rows
        trained = sorted(path.name for path in (tmp_path / "state" / "artifacts" / "runs").iterdir())
        runs = set(rows["study-first"]) | set(rows["study-second"])
        assert runs <= set(trained) and len(trained) == 4, \
            f"3 distinct runs and the one BC stage all alpha values share, each trained once: {trained}"
        assert [rows["study-second"][run]["attempt"] for run in shared] == [1]

        # Run again: nothing is submitted or trained twice, the reports are written again.
        again = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "already submitted" in again.stderr
    finally:
        cluster.stop()


def test_a_missing_grid_file_is_named_and_nothing_is_submitted(tmp_path):
    done = subprocess.run([str(ROOT / "sweeps" / "run-study.sh"), str(tmp_path / "nope.json")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 66 and "nope.json: no such file" in done.stderr, done.stderr
