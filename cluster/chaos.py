#!/usr/bin/env python3
"""Chaos soak: a sweep of at least 500 runs with the no-op trainer while workers and the coordinator
are killed, stopped and restarted at random; at the end, every run must be recorded exactly once.

  .venv/bin/python cluster/chaos.py [--runs 500] [--workers 4] [--slots 2] [--seed 1]

Everything runs on 127.0.0.1: a coordinator (heartbeats 0.2 s x 5, so a silent worker's leases lapse
after 1 s) and --workers workers, each with its own work directory, running cluster/noop-trainer
(0.2-1.0 s a run). Every --period seconds one worker event happens, chosen at random:
  SIGKILL a worker and restart it 0-2 s later (same work directory, so the same worker id and spool),
  SIGSTOP a worker for 0.5-4 s then SIGCONT it (past 1 s its leases lapse; its late results are
    duplicates),
  SIGTERM a worker (it hands its leases back) and restart it;
and every --coordinator-period seconds the coordinator is SIGKILLed and restarted 0.3-2 s later.
The chaos stops when the sweep is done (or after --timeout seconds: a failure).

At the end it prints runs expected, recorded, duplicates discarded, lost and released attempts and
what was done to whom, and it checks, from `trac-sweep results --format json` and from the
coordinator's state.sqlite opened read-only: every run of the sweep is done and has exactly one
result, no result is recorded twice, no run failed; the BC stage units the runs share (20, one per
seed: the alphas share them) are done with exactly one result each (the no-op trainer trains them for
real, 2 steps, so their results carry real end-of-BC checkpoints). Exit status 0 when every check holds.
Not part of CI's default run (it takes a few minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Soak:
    def __init__(self, args: argparse.Namespace, directory: Path) -> None:
        self.args = args
        self.directory = directory
        self.binary = str(args.binary)
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.state = directory / "state"
        self.coordinator: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen | None] = {}
        self.stopped: dict[str, float] = {}  # SIGSTOPped worker -> when to SIGCONT it
        self.restart_at: dict[str, float] = {}  # killed worker -> when to start it again
        self.events: Counter[str] = Counter()
        self.random = random.Random(args.seed)
        self.trainer_log = directory / "trainer-starts.log"

    def log_file(self, name: str):
        return open(self.directory / f"{name}.log", "ab")

    def start_coordinator(self) -> None:
        with self.log_file("coordinator") as log:
            self.coordinator = subprocess.Popen(
                [self.binary, "coordinator", "--bind", self.endpoint, "--state", str(self.state),
                 "--heartbeat-interval", "0.2", "--liveness", "5"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def start_worker(self, name: str) -> None:
        environment = dict(os.environ, OPENBLAS_NUM_THREADS="1", TRAC_NOOP_DELAY="0.2", TRAC_NOOP_JITTER="0.8",
                           TRAC_NOOP_LOG=str(self.trainer_log), TRAC_NOOP_STAGE_TRAINER=str(self.binary))
        with self.log_file(name) as log:
            self.workers[name] = subprocess.Popen(
                [self.binary, "worker", "--connect", self.endpoint, "--slots", str(self.args.slots),
                 "--work-dir", str(self.directory / name), "--grace", "0.5",
                 "--trainer", str(ROOT / "cluster" / "noop-trainer")],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environment)

    def client(self, *arguments: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run([self.binary, *arguments, "--coordinator", self.endpoint], capture_output=True,
                              text=True, timeout=timeout)

    def status(self) -> dict | None:
        try:
            result = self.client("status", "--json", timeout=10)
        except subprocess.TimeoutExpired:
            return None
        return json.loads(result.stdout) if result.returncode == 0 else None

    def wait_for_coordinator(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.status() is not None:
                return
            time.sleep(0.1)
        raise SystemExit(f"chaos: the coordinator did not start; see {self.directory / 'coordinator.log'}")

    # Events.
    def running_workers(self) -> list[str]:
        return [name for name, process in self.workers.items()
                if process is not None and process.poll() is None and name not in self.stopped]

    def worker_event(self, now: float) -> None:
        candidates = self.running_workers()
        if not candidates:
            return
        name = self.random.choice(candidates)
        process = self.workers[name]
        assert process is not None
        kind = self.random.choices(["sigkill", "sigstop", "sigterm"], weights=[4, 4, 2])[0]
        if kind == "sigkill":
            process.kill()
            process.wait()
            self.workers[name] = None
            self.restart_at[name] = now + self.random.uniform(0, 2)
        elif kind == "sigstop":
            process.send_signal(signal.SIGSTOP)
            self.stopped[name] = now + self.random.uniform(0.5, 4)
        else:
            process.terminate()  # hands its leases back and exits; restarted when it has
            self.restart_at[name] = now + self.random.uniform(0, 1)
        self.events[f"worker {kind}"] += 1

    def coordinator_event(self) -> None:
        assert self.coordinator is not None
        self.coordinator.kill()
        self.coordinator.wait()
        time.sleep(self.random.uniform(0.3, 2))
        self.start_coordinator()
        self.events["coordinator sigkill + restart"] += 1

    def tend(self, now: float) -> None:
        """SIGCONTs stopped workers and restarts exited ones when their time has come."""
        for name, when in list(self.stopped.items()):
            if now >= when:
                process = self.workers[name]
                if process is not None:
                    process.send_signal(signal.SIGCONT)
                del self.stopped[name]
        for name, when in list(self.restart_at.items()):
            process = self.workers[name]
            if process is not None and process.poll() is None:
                if now - when > 15:  # a SIGTERMed worker that does not exit
                    process.kill()
                    process.wait()
                    self.events["worker sigkill after sigterm did not stop it"] += 1
                continue
            if now >= when:
                self.start_worker(name)
                del self.restart_at[name]

    def calm(self) -> None:
        """Every stopped worker continued, every exited one started again."""
        for name in list(self.stopped):
            self.stopped[name] = 0
        for name in list(self.restart_at):
            self.restart_at[name] = min(self.restart_at[name], time.monotonic())
        deadline = time.monotonic() + 30
        while (self.stopped or self.restart_at) and time.monotonic() < deadline:
            self.tend(time.monotonic())
            time.sleep(0.1)

    def stop_everything(self) -> None:
        for name, process in self.workers.items():
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.terminate()
        for process in self.workers.values():
            if process is not None:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self.coordinator is not None and self.coordinator.poll() is None:
            self.coordinator.terminate()
            try:
                self.coordinator.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.coordinator.kill()
                self.coordinator.wait()


def write_grid(directory: Path, runs: int) -> tuple[Path, int]:
    """A product grid: `alphas` x 20 seeds >= runs."""
    seeds = 20
    alphas = -(-runs // seeds)
    dataset = directory / "data.hdf5"
    made = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_dataset.py"), "OfflineBallCircle-v0",
                           "--episodes", "12", "--seed", "0", "--out", str(dataset)],
                          capture_output=True, text=True, timeout=300)
    if made.returncode != 0:
        raise SystemExit(f"chaos: make_dataset.py failed: {made.stderr}")
    grid = {
        "name": "chaos-soak", "task": "OfflineBallCircle-v0", "dataset": str(dataset), "algorithm": "trac",
        "base": {"bc_steps": 2, "steps": 4, "batch_size": 4},
        "vary": {"alpha": [round(0.05 * (i + 1), 2) for i in range(alphas)]}, "design": "product",
        "cost_thresholds": [40], "seeds": list(range(seeds)), "eval": {"episodes": 0, "seed": 0},
    }
    path = directory / "grid.json"
    path.write_text(json.dumps(grid, indent=1))
    return path, alphas * seeds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=500, help="at least this many runs (default 500)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--slots", type=int, default=2, help="runs at once per worker")
    parser.add_argument("--period", type=float, default=1.0, help="seconds between worker events")
    parser.add_argument("--coordinator-period", type=float, default=5.0,
                        help="seconds between coordinator kills")
    parser.add_argument("--timeout", type=float, default=1200, help="give up after this many seconds")
    parser.add_argument("--stall", type=float, default=120,
                        help="fail when no run is recorded for this many seconds (default 120)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the chaos schedule")
    parser.add_argument("--binary", type=Path, default=ROOT / ".build" / "release" / "trac-sweep")
    parser.add_argument("--keep", action="store_true", help="keep the state and logs directory")
    args = parser.parse_args()
    if args.runs < 1 or args.workers < 1 or args.slots < 1 or args.period <= 0 or args.coordinator_period <= 0:
        parser.error("--runs, --workers and --slots must be at least 1, the periods positive")
    if not args.binary.is_file():
        parser.error(f"{args.binary} is not built: swift build -c release")

    # SIGTERM (and SIGINT, which a shell's background job ignores) end the soak with its cleanup.
    def interrupted(number, _frame):
        raise SystemExit(f"chaos: stopped by signal {number}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    directory = Path(tempfile.mkdtemp(prefix="trac-chaos-"))
    soak = Soak(args, directory)
    grid, expected = write_grid(directory, args.runs)
    print(f"chaos: {expected} runs, {args.workers} workers x {args.slots} slots, coordinator {soak.endpoint}, "
          f"logs in {directory}", flush=True)
    ok = False
    try:
        soak.start_coordinator()
        soak.wait_for_coordinator()
        for index in range(args.workers):
            soak.start_worker(f"worker-{index + 1}")
        submitted = soak.client("submit", str(grid))
        if submitted.returncode != 0:
            raise SystemExit(f"chaos: submit failed: {submitted.stderr}")
        sweep = submitted.stdout.strip()

        started = time.monotonic()
        next_worker_event = started + args.period
        next_coordinator_event = started + args.coordinator_period
        next_report = started + 10
        done = 0
        last_progress = (0, started)
        stalled = False
        while time.monotonic() - started < args.timeout:
            now = time.monotonic()
            soak.tend(now)
            if now >= next_worker_event:
                soak.worker_event(now)
                next_worker_event = now + args.period * soak.random.uniform(0.5, 1.5)
            if now >= next_coordinator_event:
                soak.coordinator_event()
                next_coordinator_event = time.monotonic() + args.coordinator_period * soak.random.uniform(0.6, 1.4)
            reply = soak.status()
            if reply is not None:
                summary = next(s for s in reply["sweeps"] if s["id"] == sweep)
                done = summary["done"]
                if done != last_progress[0]:
                    last_progress = (done, now)
                elif now - last_progress[1] > args.stall:
                    print(f"chaos: no run recorded for {args.stall:.0f} s: stalled at {done}/{expected}", flush=True)
                    stalled = True
                    break
                if now >= next_report:
                    print(f"chaos: {now - started:5.0f} s  done {done}/{expected}  running {summary['running']}  "
                          f"lost attempts {summary['lost_attempts']}  duplicates {summary['duplicates']}", flush=True)
                    next_report = now + 10
                if done + summary["failed"] + summary["cancelled"] == expected:
                    break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        # Calm: everyone running again, so spooled results are delivered before the final count.
        soak.calm()
        time.sleep(3)
        reply = soak.status()
        rows = json.loads(soak.client("results", sweep, "--format", "json").stdout)
        soak.stop_everything()

        database = sqlite3.connect(f"file:{soak.state / 'state.sqlite'}?mode=ro", uri=True)
        try:
            members = database.execute("SELECT COUNT(*) FROM sweep_runs WHERE sweep_id = ?", (sweep,)).fetchone()[0]
            states = dict(database.execute(
                "SELECT r.state, COUNT(*) FROM runs r JOIN sweep_runs s ON s.run_id = r.id "
                "WHERE s.sweep_id = ? GROUP BY r.state", (sweep,)).fetchall())
            results_per_run = Counter(run for (run,) in database.execute(
                "SELECT r.run_id FROM results r JOIN sweep_runs s ON s.run_id = r.run_id WHERE s.sweep_id = ?",
                (sweep,)))
            without_result = database.execute(
                "SELECT COUNT(*) FROM sweep_runs s LEFT JOIN results r ON r.run_id = s.run_id "
                "WHERE s.sweep_id = ? AND r.run_id IS NULL", (sweep,)).fetchone()[0]
            outcomes = dict(database.execute(
                "SELECT COALESCE(outcome, 'open'), COUNT(*) FROM attempts GROUP BY outcome").fetchall())
            discarded = database.execute(
                "SELECT COALESCE(MAX(value), 0) FROM counters WHERE name = 'duplicates_discarded'").fetchone()[0]
            duplicate_rows = database.execute("SELECT COALESCE(SUM(duplicate_results), 0) FROM runs").fetchone()[0]
            # Shared BC stages: the units the sweep's runs start from, each done with one result.
            stage_units = database.execute(
                "SELECT DISTINCT r.stage_run_id FROM runs r JOIN sweep_runs s ON s.run_id = r.id "
                "WHERE s.sweep_id = ? AND r.stage_run_id IS NOT NULL", (sweep,)).fetchall()
            stage_states = dict(database.execute(
                "SELECT u.state, COUNT(*) FROM runs u WHERE u.id IN (SELECT DISTINCT stage_run_id FROM runs) "
                "GROUP BY u.state").fetchall())
            stage_results = Counter(run for (run,) in database.execute(
                "SELECT run_id FROM results WHERE run_id IN (SELECT DISTINCT stage_run_id FROM runs)"))
        finally:
            database.close()
        starts = len(soak.trainer_log.read_text().splitlines()) if soak.trainer_log.exists() else 0
        summary = next(s for s in reply["sweeps"] if s["id"] == sweep) if reply else {}
        run_ids = [row["run_id"] for row in rows]

        print("\nchaos: figures")
        print(f"  runs expected            {expected}")
        print(f"  runs in the sweep        {members}")
        print(f"  recorded (results)       {len(run_ids)} rows, {len(set(run_ids))} distinct runs")
        print(f"  recorded (state.sqlite)  {sum(results_per_run.values())} rows, {len(results_per_run)} distinct runs")
        print(f"  run states               {dict(sorted(states.items()))}")
        print(f"  duplicates discarded     {discarded} (status: {summary.get('duplicates', '?')}, "
              f"per-run counts: {duplicate_rows})")
        print(f"  lost attempts            {outcomes.get('lost', 0)} (status: {summary.get('lost_attempts', '?')})")
        print(f"  attempts by outcome      {dict(sorted(outcomes.items()))}")
        print(f"  BC stage units           {len(stage_units)} ({dict(sorted(stage_states.items()))}), "
              f"{sum(stage_results.values())} results for {len(stage_results)} units")
        print(f"  trainer starts           {starts} for {expected} runs and {len(stage_units)} stage units")
        print(f"  chaos events             {dict(sorted(soak.events.items()))}")
        print(f"  wall time                {elapsed:.0f} s")

        problems = ["the sweep stalled"] if stalled else []
        if members != expected:
            problems.append(f"the sweep has {members} runs, expected {expected}")
        if len(run_ids) != expected or len(set(run_ids)) != expected:
            problems.append(f"`results` lists {len(run_ids)} rows for {len(set(run_ids))} runs, expected {expected}")
        if len(results_per_run) != expected or any(count != 1 for count in results_per_run.values()):
            problems.append("state.sqlite does not hold exactly one result per run")
        if without_result:
            problems.append(f"{without_result} runs have no result")
        if states != {"done": expected}:
            problems.append(f"not every run is done: {states}")
        if not stage_units:
            problems.append("no run shared a BC stage unit")
        if stage_states != {"done": len(stage_units)} or len(stage_results) != len(stage_units) \
                or any(count != 1 for count in stage_results.values()):
            problems.append(f"not every BC stage unit is done with exactly one result: {stage_states}")
        if problems:
            print("chaos: FAILED: " + "; ".join(problems))
            return 1
        ok = True
        print(f"chaos: OK: every one of the {expected} runs recorded exactly once")
        return 0
    finally:
        soak.stop_everything()
        if ok and not args.keep:
            subprocess.run(["rm", "-rf", str(directory)])
        else:
            print(f"chaos: state and logs kept in {directory}")


if __name__ == "__main__":
    sys.exit(main())
