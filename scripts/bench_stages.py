#!/usr/bin/env python3
"""Benchmark of shared BC stages: a scaled Table 2 grid with stage sharing on and off, in one run.

  .venv/bin/python scripts/bench_stages.py [--steps 1000] [--bc-steps 300] [--batch-size 32]
      [--dataset datasets/SafetyBallCircle-v0-demo.hdf5] [--workers 2]

The grid is the paper's Table 2 scaled down: alpha {0.05, 0.1, 0.2, 0.5} x eta {0.1, 0.25, 0.5, 1.0}
(product), one cost threshold, two seeds, the paper's 30:70 BC:TraC step ratio, no evaluation: 32
runs. It is trained twice, each time by a fresh coordinator (127.0.0.1) and --workers workers with
one slot each, all on this machine: first with `--no-share-bc-stages` (every run trains its own BC
phase), then with sharing (one stage unit per seed, the 16 runs of a seed start their TraC phase
from it). Every trainer process runs under a small wrapper that records its CPU seconds (user +
system, from the kernel's rusage of the finished process), so the figures are the trainers' CPU
and nothing else. It prints the CPU seconds of each way, their ratio, checks that both ways gave
the same policies (byte for byte), and prints the work one preemption loses at the default
checkpoint settings, from the seconds per step measured here.

Needs the release build (`swift build -c release`) and a BallCircle dataset (the demo's by default;
`scripts/demo.sh` makes it, or pass --dataset). Not part of the test suite: it takes ~15 minutes
on 2 cores at the defaults.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALPHAS = [0.05, 0.1, 0.2, 0.5]
ETAS = [0.1, 0.25, 0.5, 1.0]
SHIP_SECONDS = 300  # the worker's default --ship-checkpoints
CHECKPOINT_EVERY = 1000  # the trainer's default --checkpoint-every


def measure(log: str, command: list[str]) -> int:
    """Runs one trainer and appends its CPU seconds to `log` (the wrapper's job)."""
    child = subprocess.Popen(command)
    # Pass a stop on to the trainer, as the worker would have sent it.
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda received, _frame: child.send_signal(received))
    status = child.wait()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = command[command.index("--out") + 1] if "--out" in command else ""
    with open(log, "a") as file:
        file.write(json.dumps({"out": out, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                               "status": status}) + "\n")
    return status if status >= 0 else 128 - status


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_study(binary: Path, directory: Path, dataset: Path, args: argparse.Namespace, share: bool) -> dict:
    directory.mkdir(parents=True)
    log = directory / "trainers.jsonl"
    wrapper = directory / "trainer"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {Path(__file__).resolve()} --measure {log} "
                       f"{binary} \"$@\"\n")
    wrapper.chmod(0o755)
    grid = {
        "name": "table2-scaled", "task": "OfflineBallCircle-v0", "dataset": str(dataset.resolve()),
        "algorithm": "trac",
        "base": {"bc_steps": args.bc_steps, "steps": args.steps, "batch_size": args.batch_size},
        "vary": {"alpha": ALPHAS, "eta": ETAS}, "design": "product",
        "cost_thresholds": [20], "seeds": [0, 1], "eval": {"episodes": 0, "seed": 0},
    }
    (directory / "grid.json").write_text(json.dumps(grid, indent=1))
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    environment = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    processes = []

    def start(name: str, command: list[str]) -> subprocess.Popen:
        with open(directory / f"{name}.log", "ab") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=environment)
        processes.append(process)
        return process

    def client(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(binary), *arguments, "--coordinator", endpoint], capture_output=True,
                              text=True, timeout=120)

    try:
        start("coordinator", [str(binary), "coordinator", "--bind", endpoint, "--state",
                              str(directory / "state"), "--datasets", str(dataset.resolve().parent),
                              "--audit", "0"]
              + ([] if share else ["--no-share-bc-stages"]))
        for _ in range(100):
            if client("status").returncode == 0:
                break
            time.sleep(0.2)
        for index in range(args.workers):
            start(f"worker-{index}", [str(binary), "worker", "--connect", endpoint, "--slots", "1",
                                      "--work-dir", str(directory / f"worker-{index}"), "--trainer",
                                      str(wrapper), "--no-evaluate"])
        started = time.monotonic()
        submitted = client("submit", str(directory / "grid.json"))
        if submitted.returncode != 0:
            raise SystemExit(f"bench: submit failed: {submitted.stderr}")
        sweep = submitted.stdout.strip()
        while True:
            status = json.loads(client("status", "--json").stdout)
            summary = next(s for s in status["sweeps"] if s["id"] == sweep)
            if summary["done"] + summary["failed"] == summary["total"]:
                break
            if time.monotonic() - started > args.timeout:
                raise SystemExit(f"bench: the sweep did not finish in {args.timeout} s: {summary}")
            time.sleep(1)
        wall = time.monotonic() - started
        if summary["failed"]:
            raise SystemExit(f"bench: {summary['failed']} runs failed; see {directory}")
        rows = json.loads(client("results", sweep, "--format", "json").stdout)
    finally:
        for process in processes[1:] + processes[:1]:  # workers first, then the coordinator
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    trainers = [json.loads(line) for line in log.read_text().splitlines()]
    policies = {row["run_id"]: hashlib.sha256(Path(row["policy"]).read_bytes()).hexdigest() for row in rows}
    return {"cpu": sum(t["cpu_seconds"] for t in trainers), "trainers": len(trainers), "wall": wall,
            "rows": rows, "policies": policies, "stages": status.get("stages", {})}


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        return measure(sys.argv[2], sys.argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--bc-steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="workers of one slot each (default 2)")
    parser.add_argument("--dataset", type=Path, default=ROOT / "datasets" / "SafetyBallCircle-v0-demo.hdf5")
    parser.add_argument("--binary", type=Path, default=ROOT / ".build" / "release" / "trac-sweep")
    parser.add_argument("--timeout", type=float, default=7200)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if not args.binary.exists():
        raise SystemExit(f"bench: no {args.binary}: run `swift build -c release` first")
    if not args.dataset.exists():
        raise SystemExit(f"bench: no dataset {args.dataset}: run scripts/demo.sh once, or pass --dataset")
    if not 0 < args.bc_steps < args.steps:
        raise SystemExit("bench: needs 0 < --bc-steps < --steps")
    runs = len(ALPHAS) * len(ETAS) * 2
    print(f"bench: Table 2 scaled: {len(ALPHAS)} alpha x {len(ETAS)} eta x 2 seeds = {runs} runs, "
          f"{args.bc_steps} BC + {args.steps - args.bc_steps} TraC steps, batch {args.batch_size}, "
          f"{args.workers} workers x 1 slot, one BLAS thread per trainer")
    directory = Path(tempfile.mkdtemp(prefix="trac-bench-stages-"))
    try:
        alone = run_study(args.binary, directory / "alone", args.dataset, args, share=False)
        print(f"  without sharing: {alone['trainers']} trainers, {alone['cpu']:.1f} trainer CPU-s "
              f"({alone['wall']:.0f} s wall)")
        shared = run_study(args.binary, directory / "shared", args.dataset, args, share=True)
        print(f"  with sharing:    {shared['trainers']} trainers ({shared['stages'].get('units', '?')} stage "
              f"units + {runs} runs), {shared['cpu']:.1f} trainer CPU-s ({shared['wall']:.0f} s wall)")
        ratio = shared["cpu"] / alone["cpu"]
        print(f"  ratio shared/alone: {ratio:.3f}: {100 * (1 - ratio):.1f}% less trainer CPU "
              f"(goal: at least 20% less)")
        saved = shared["stages"].get("seconds_saved", 0.0)
        print(f"  status.stages.seconds_saved: {saved:.1f} s (the coordinator's own count)")
        same = alone["policies"] == shared["policies"]
        print(f"  policies identical with and without sharing: {same} ({len(shared['policies'])} runs)")
        steps_trained = sorted({row["steps_trained"] for row in shared["rows"]})
        print(f"  steps_trained with sharing: {steps_trained} (of {args.steps})")
        # Preemption: a run lost without warning loses the steps since the last shipped checkpoint:
        # at most one shipping interval plus one checkpoint interval.
        seconds_per_step = alone["cpu"] / (runs * args.steps)
        worst = SHIP_SECONDS + CHECKPOINT_EVERY * seconds_per_step
        print(f"  one preemption at the defaults: at most one shipping interval ({SHIP_SECONDS} s) + one "
              f"checkpoint interval ({CHECKPOINT_EVERY} steps = {CHECKPOINT_EVERY * seconds_per_step:.0f} s at "
              f"this grid's {1000 * seconds_per_step:.1f} ms a step) = {worst:.0f} s of one core lost; without "
              f"checkpoints, everything the run had trained (up to a whole paper-size run, hours); 0 on a "
              f"graceful hand-back (SIGTERM checkpoints the step in hand)")
        return 0 if same else 1
    finally:
        if not args.keep:
            subprocess.run(["rm", "-rf", str(directory)])
        else:
            print(f"  kept: {directory}")


if __name__ == "__main__":
    sys.exit(main())
