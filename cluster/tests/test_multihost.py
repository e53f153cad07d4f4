"""The multi-host test: a coordinator and two workers on three "hosts" made of network namespaces.

Three namespaces (the coordinator, worker 1, worker 2), each with one veth link to a bridge in a
fourth namespace, addresses 10.77.0.1-3/24 that exist only inside these namespaces. Each worker has
its own work directory (its dataset cache, spool and runs); the datasets reach the workers only by
hash over the network, from the coordinator. The workers run the real trainer (`trac-sweep train`,
tiny step counts, grids with `"eval": {"episodes": 0}` (train only) and `--no-evaluate`: rolling policies out in the simulator would cost seconds a run
and prove nothing about the network).

Scenario:
1. A sweep starts on both workers. Mid-sweep worker 1's link is cut (`ip link set eth0 down`): its
   runs are requeued to worker 2 once the lease lapses (0.2 s x 5). Worker 1 keeps training and
   spools its results. The link comes back: worker 1 reconnects, its late results are counted as
   duplicates and not recorded, and the sweep completes with every run recorded once.
2. The coordinator's link becomes lossy (iptables statistic match: 5 % of packets dropped, both
   ways) and slow (a tbf qdisc, 2 Mbit/s): a second sweep on a second dataset (fetched by hash
   through that link) still completes, every run recorded once.

Needs root, `ip netns`, iptables and tc; skipped with the reason otherwise. Everything it creates
(namespaces, and with them the veths, the bridge, the iptables rules and the qdisc; processes;
temporary directories) is removed at the end, pass or fail. Namespaces left by an earlier run that
was killed are removed too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("TRAC_SWEEP_BIN", ROOT / ".build" / "release" / "trac-sweep"))
MAKE_DATASET = ROOT / "scripts" / "make_dataset.py"
PREFIX = "tsmh"  # namespaces are named tsmh<pid>-<role>
SUBNET = "10.77.0"
COORDINATOR_ADDRESS = f"{SUBNET}.1"
PORT = 5555
ENDPOINT = f"tcp://{COORDINATOR_ADDRESS}:{PORT}"
# Leases lapse after 0.2 s x 5 = 1 s of silence.
HEARTBEAT = ["--heartbeat-interval", "0.2", "--liveness", "5"]


def _why_skip() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth links, iptables)"
    for tool in ("ip", "iptables", "tc"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup.sh installs iproute2 and iptables)"
    probe = f"{PREFIX}{os.getpid()}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` is not available here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    if not BINARY.is_file():
        return f"{BINARY} is not built (swift build -c release)"
    return None


SKIP_REASON = _why_skip()
pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=str(SKIP_REASON))


def sh(*arguments: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    result = subprocess.run(list(arguments), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(arguments)} failed ({result.returncode}): {result.stderr}")
    return result


def remove_stale_namespaces() -> None:
    """Namespaces of earlier runs whose process is gone (a killed test cannot clean up)."""
    listed = sh("ip", "netns", "list", check=False).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.split() else ""
        match = re.fullmatch(rf"{PREFIX}(\d+)-\w+", name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            sh("ip", "netns", "del", name, check=False)


class Hosts:
    """Three hosts and a bridge, made of network namespaces; processes started in them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        tag = f"{PREFIX}{os.getpid()}"
        self.bridge = f"{tag}-br"
        self.namespaces = {"coordinator": f"{tag}-c", "w1": f"{tag}-w1", "w2": f"{tag}-w2"}
        self.addresses = {"coordinator": f"{SUBNET}.1", "w1": f"{SUBNET}.2", "w2": f"{SUBNET}.3"}
        self.processes: dict[str, subprocess.Popen] = {}
        self.made: list[str] = []

    def create(self) -> None:
        remove_stale_namespaces()
        for name in [self.bridge, *self.namespaces.values()]:
            sh("ip", "netns", "add", name)
            self.made.append(name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        sh("ip", "-n", self.bridge, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.bridge, "link", "set", "br0", "up")
        for role, namespace in self.namespaces.items():
            peer = f"p-{role}"
            # Both ends are made inside the namespaces: nothing appears in the host's namespace.
            sh("ip", "link", "add", "eth0", "netns", namespace, "type", "veth", "peer", "name", peer,
               "netns", self.bridge)
            sh("ip", "-n", self.bridge, "link", "set", peer, "master", "br0")
            sh("ip", "-n", self.bridge, "link", "set", peer, "up")
            sh("ip", "-n", namespace, "addr", "add", f"{self.addresses[role]}/24", "dev", "eth0")
            sh("ip", "-n", namespace, "link", "set", "eth0", "up")

    def run(self, role: str, *arguments: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """A short command in `role`'s namespace."""
        return sh("ip", "netns", "exec", self.namespaces[role], *arguments, check=False, timeout=timeout)

    def start(self, name: str, role: str, arguments: list[str]) -> subprocess.Popen:
        log = open(self.directory / f"{name}.log", "ab")
        environment = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        process = subprocess.Popen(["ip", "netns", "exec", self.namespaces[role], *arguments],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=environment)
        log.close()
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name}.log\n" + "\n".join(self.log(name).splitlines()[-25:])
                         for name in sorted(self.processes))

    def link(self, role: str, up: bool) -> None:
        sh("ip", "-n", self.namespaces[role], "link", "set", "eth0", "up" if up else "down")

    def destroy(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        # Deleting a namespace deletes its veth ends, the bridge, its iptables rules and qdiscs.
        for name in self.made:
            sh("ip", "netns", "del", name, check=False)
        leftover = [n for n in self.made if n in sh("ip", "netns", "list", check=False).stdout.split()]
        assert not leftover, f"namespaces left behind: {leftover}"


@pytest.fixture
def hosts(tmp_path):
    made = Hosts(tmp_path)
    try:
        made.create()
        yield made
    finally:
        made.destroy()


def client(hosts: Hosts, *arguments: str) -> subprocess.CompletedProcess:
    return hosts.run("coordinator", str(BINARY), *arguments, "--coordinator", ENDPOINT)


def status(hosts: Hosts) -> dict | None:
    result = client(hosts, "status", "--json")
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)


def sweep_of(reply: dict, sweep: str) -> dict:
    return next(s for s in reply["sweeps"] if s["id"] == sweep or s["name"] == sweep)


def wait_for(hosts: Hosts, what: str, condition, timeout: float = 60) -> dict:
    """Polls `status` until `condition(status)` holds; fails with the logs after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = status(hosts)
        if last is not None and condition(last):
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last status: {json.dumps(last)}\n{hosts.logs()}")


def results(hosts: Hosts, sweep: str) -> list[dict]:
    result = client(hosts, "results", sweep, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_recorded_once(hosts: Hosts, sweep: str, total: int) -> list[dict]:
    rows = results(hosts, sweep)
    run_ids = [row["run_id"] for row in rows]
    assert len(run_ids) == total, f"{len(run_ids)} results for {total} runs"
    assert len(set(run_ids)) == total, "a run was recorded twice"
    return rows


def make_datasets(*outputs: Path) -> None:
    """Tiny BallCircle datasets (4 episodes from the simulator), one seed each, made at once."""
    making = [subprocess.Popen([sys.executable, str(MAKE_DATASET), "OfflineBallCircle-v0", "--episodes", "4",
                                "--seed", str(seed), "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
              for seed, out in enumerate(outputs, start=1)]
    for process in making:
        _, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr


def write_grid(directory: Path, name: str, dataset: Path, alphas: list[float], seeds: list[int],
               steps: int) -> Path:
    grid = {
        "name": name, "task": "OfflineBallCircle-v0", "dataset": str(dataset), "algorithm": "trac",
        "base": {"bc_steps": steps // 4, "steps": steps, "batch_size": 4},
        "vary": {"alpha": alphas}, "design": "one_at_a_time", "cost_thresholds": [20],
        "seeds": seeds, "eval": {"episodes": 0, "seed": 0},
    }
    path = directory / f"{name}.json"
    path.write_text(json.dumps(grid))
    return path


def worker_id(hosts: Hosts, role: str) -> str:
    path = hosts.directory / f"work-{role}" / "worker-id"
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.read_text().strip()


def test_sweep_across_three_hosts_survives_a_cut_link_and_a_lossy_slow_link(hosts: Hosts, tmp_path: Path):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    first, second = datasets / "first.hdf5", datasets / "second.hdf5"
    make_datasets(first, second)

    # Without shared BC stages: the cut must land on a run of the sweep (not on a stage unit, which
    # no sweep's results list), so every run here is one unit of work.
    hosts.start("coordinator", "coordinator",
                [str(BINARY), "coordinator", "--bind", ENDPOINT, "--state", str(tmp_path / "state"),
                 *HEARTBEAT, "--no-share-bc-stages", "--audit", "0"])
    wait_for(hosts, "the coordinator to answer", lambda s: True, timeout=30)
    for role in ("w1", "w2"):
        hosts.start(role, role,
                    [str(BINARY), "worker", "--connect", ENDPOINT, "--slots", "1",
                     "--work-dir", str(tmp_path / f"work-{role}"), "--grace", "1", "--no-evaluate"])
    w1, w2 = worker_id(hosts, "w1"), worker_id(hosts, "w2")
    wait_for(hosts, "both workers to connect",
             lambda s: sorted(w["id"] for w in s["workers"] if w["state"] == "online") == sorted([w1, w2]))

    # 1. A sweep of 8 runs of the real trainer; runs long enough (a few seconds) that one is in flight
    # on worker 1 when its link is cut, and still finishes there before the link comes back.
    grid = write_grid(tmp_path, "cut-link", first, alphas=[0.1, 0.2, 0.5, 1.0], seeds=[0, 1], steps=40)
    submitted = client(hosts, "submit", str(grid))
    assert submitted.returncode == 0, submitted.stderr + hosts.logs()
    sweep = submitted.stdout.strip()
    total = 8

    # Cut the link the moment worker 1 starts a trainer (from its log), so the run is seconds from done.
    deadline = time.monotonic() + 60
    started: list[str] = []
    while not started and time.monotonic() < deadline:
        started = re.findall(r"run=([0-9a-f]{16}) .*trainer started for attempt", hosts.log("w1"))
        time.sleep(0.02)
    assert started, f"worker 1 started no trainer\n{hosts.logs()}"
    hosts.link("w1", up=False)
    cut_runs = sorted(set(started))

    # Worker 1's lease lapses; worker 2 records the runs worker 1 had.
    def rescued(s: dict) -> bool:
        recorded = {row["run_id"]: row for row in results(hosts, sweep)}
        return all(run in recorded for run in cut_runs)

    after_cut = wait_for(hosts, "worker 2 to record worker 1's runs", rescued, timeout=90)
    assert sweep_of(after_cut, sweep)["lost_attempts"] >= len(cut_runs)
    recorded = {row["run_id"]: row for row in results(hosts, sweep)}
    for run in cut_runs:
        assert recorded[run]["worker"] == w2, f"run {run} recorded by {recorded[run]['worker']}, not worker 2"
    # Worker 1 trained its runs to the end while cut off and keeps the results in its spool.
    spool = tmp_path / "work-w1" / "spool"

    def spooled() -> bool:
        return all(any(spool.glob(f"{run}.attempt-*")) for run in cut_runs)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not spooled():
        time.sleep(0.1)
    assert spooled(), f"worker 1 did not spool {cut_runs} while cut off\n{hosts.logs()}"

    hosts.link("w1", up=True)
    done = wait_for(hosts, "the sweep to finish, with worker 1's late results counted as duplicates",
                    lambda s: sweep_of(s, sweep)["done"] == total
                    and sweep_of(s, sweep)["duplicates"] >= len(cut_runs)
                    and any(w["id"] == w1 and w["state"] == "online" for w in s["workers"]),
                    timeout=120)
    summary = sweep_of(done, sweep)
    assert summary["failed"] == 0 and summary["pending"] == 0 and summary["running"] == 0, summary
    rows = assert_recorded_once(hosts, sweep, total)
    for row in rows:
        if row["run_id"] in cut_runs:
            assert row["worker"] == w2, "a late duplicate replaced the recorded result"
    # Both workers got the dataset by hash, into their own caches; nothing was shared.
    digest = sh("sha256sum", str(first)).stdout.split()[0]
    for role in ("w1", "w2"):
        cached = tmp_path / f"work-{role}" / "datasets" / f"{digest}.hdf5"
        assert cached.read_bytes() == first.read_bytes(), f"{role} has no copy of the dataset {digest}"

    # 2. The coordinator's link drops 5 % of packets both ways and is slow; a second sweep on a second
    # dataset (which the workers must fetch through that link) still completes, each run once.
    coordinator_ns = hosts.namespaces["coordinator"]
    for chain in ("INPUT", "OUTPUT"):
        sh("ip", "netns", "exec", coordinator_ns, "iptables", "-A", chain, "-i" if chain == "INPUT" else "-o",
           "eth0", "-m", "statistic", "--mode", "random", "--probability", "0.05", "-j", "DROP")
    sh("ip", "netns", "exec", coordinator_ns, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf",
       "rate", "2mbit", "burst", "32kbit", "latency", "400ms")
    rules = sh("ip", "netns", "exec", coordinator_ns, "iptables", "-S").stdout
    assert rules.count("statistic") == 2, rules

    grid = write_grid(tmp_path, "lossy-link", second, alphas=[0.1, 0.2, 0.5], seeds=[0, 1], steps=8)
    submitted = client(hosts, "submit", str(grid))
    assert submitted.returncode == 0, submitted.stderr + hosts.logs()
    lossy = submitted.stdout.strip()
    finished = wait_for(hosts, "the sweep over the lossy, slow link to finish",
                        lambda s: sweep_of(s, lossy)["done"] == 6, timeout=120)
    assert sweep_of(finished, lossy)["failed"] == 0
    assert_recorded_once(hosts, lossy, 6)
    dropped = sh("ip", "netns", "exec", coordinator_ns, "iptables", "-L", "-v", "-n", "-x").stdout
    packets = [int(line.split()[0]) for line in dropped.splitlines() if "statistic" in line]
    assert sum(packets) > 0, f"the lossy link dropped nothing:\n{dropped}"

    # The coordinator's database, read-only: one result per run of both sweeps, none twice.
    database = sqlite3.connect(f"file:{tmp_path / 'state' / 'state.sqlite'}?mode=ro", uri=True)
    try:
        count, distinct = database.execute("SELECT COUNT(*), COUNT(DISTINCT run_id) FROM results").fetchone()
        discarded = database.execute(
            "SELECT COALESCE(SUM(value), 0) FROM counters WHERE name = 'duplicates_discarded'").fetchone()[0]
    finally:
        database.close()
    assert (count, distinct) == (total + 6, total + 6)
    assert discarded >= len(cut_runs)
    print(f"multihost: cut-link sweep {total} runs, {summary['lost_attempts']} lost attempts, "
          f"{summary['duplicates']} duplicates discarded; lossy-link sweep 6 runs, {sum(packets)} packets dropped")
