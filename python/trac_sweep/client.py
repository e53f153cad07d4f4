"""`Coordinator`: the client requests of docs/PROTOCOL.md (section 4, "Client to coordinator")."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import results as _results
from .config import CurveKeys, read_config, resolve_address, resolve_keys
from .errors import RunsFailed, TracSweepError, WaitTimeout
from .wire import Connection

# The largest `upload` piece the coordinator takes.
UPLOAD_PIECE_BYTES = 4 << 20


@dataclass(frozen=True)
class Sweep:
    """A submitted sweep, as `submit` answered. Anywhere a sweep is asked for, this, its id or its name do."""

    id: str
    name: str
    runs: int
    already_done: int
    created: bool

    def __str__(self) -> str:
        return self.id


SweepRef = Union[Sweep, str]


def _sweep_ref(sweep: SweepRef) -> str:
    if isinstance(sweep, Sweep):
        return sweep.id
    if isinstance(sweep, str) and sweep:
        return sweep
    raise TypeError(f"a sweep is a Sweep, its id or its name, not {sweep!r}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Coordinator:
    """A client of one trac-sweep coordinator.

    `address`: `tcp://HOST:PORT`; default `$TRAC_SWEEP_COORDINATOR`, then `coordinator` in
    `~/.config/trac-sweep/config.json`, then `tcp://127.0.0.1:5555`.
    `client_keys`: this client's CURVE key file (`NAME.key`, from `trac-sweep keys generate`) or a
    (public, secret) pair of Z85 keys; `server_key`: the coordinator's public key file (`.pub`) or Z85
    key. Defaults: `$TRAC_SWEEP_CURVE_SECRET` / `$TRAC_SWEEP_SERVER_KEY`, then `curve_secret` /
    `server_key` in the config file; neither: plaintext.
    `timeout`: seconds to wait for each answer.
    """

    def __init__(self, address: Optional[str] = None, *, server_key=None, client_keys=None,
                 timeout: float = 10.0, config_file: Optional[Union[str, os.PathLike]] = None) -> None:
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        config = read_config(Path(config_file) if config_file is not None else None)
        self.address = resolve_address(address, config)
        self.keys: Optional[CurveKeys] = resolve_keys(client_keys, server_key, config)
        self._connection = Connection(self.address, self.keys, timeout)

    def __repr__(self) -> str:
        return f"Coordinator({self.address!r}{', CURVE' if self.keys else ''})"

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> "Coordinator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # MARK: the requests

    def request(self, command: str, attachments: Sequence[bytes] = (), timeout: Optional[float] = None,
                **fields: Any) -> dict:
        """One request, as the protocol spells it (`command` and the body's other fields); the reply's
        body. Raises CoordinatorError (by code) when the coordinator refuses, NoAnswer when nothing answers."""
        body = {"command": command}
        body.update({key: value for key, value in fields.items() if value is not None})
        return self._connection.call(body, attachments, timeout)

    def submit(self, grid: Union[str, os.PathLike, dict], *, upload: bool = True, quiet: bool = False) -> Sweep:
        """Submits a grid (a grid file's path, or the grid as a dict) and returns the sweep. Submitting
        the same grid again gives the same sweep (`created` False). Each dataset file the grid names
        that exists on this machine is uploaded first (only what the coordinator lacks, with a line
        saying so unless `quiet`); relative paths are taken from the grid file's directory (for a dict,
        the current directory)."""
        if isinstance(grid, dict):
            text = json.dumps(grid, indent=2)
            directory = Path.cwd()
        else:
            path = Path(grid).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as error:
                raise TracSweepError(f"cannot read the grid file {path}: {error.strerror or error}") from None
            directory = path.resolve().parent
        hashes = self._upload_datasets(text, directory, quiet) if upload else {}
        reply = self.request("submit", grid=text, grid_directory=str(directory),
                             dataset_hashes=hashes or None)
        return Sweep(id=reply["sweep_id"], name=reply["name"], runs=reply["runs"],
                     already_done=reply["already_done"], created=reply["created"])

    def status(self, sweep: Optional[SweepRef] = None) -> dict:
        """`{"sweeps": [...], "workers": [...], "recent_failures": [...]}`, of one sweep or of all."""
        return self.request("status", sweep=None if sweep is None else _sweep_ref(sweep))

    def sweep(self, sweep: SweepRef) -> dict:
        """One sweep's counts: `id`, `name`, `total`, `pending`, `running`, `done`, `failed`, ..."""
        ref = _sweep_ref(sweep)
        for entry in self.status(ref)["sweeps"]:
            if ref in (entry["id"], entry["name"]):
                return entry
        raise TracSweepError(f"the coordinator's status has no sweep {ref}")

    def cancel(self, sweep: SweepRef) -> dict:
        """Cancels the sweep's pending and running runs: `{"message", "affected"}` (runs cancelled)."""
        return self.request("cancel", sweep=_sweep_ref(sweep))

    def retry(self, sweep: SweepRef, failed_only: bool = True) -> dict:
        """Queues the sweep's failed runs again, with their seeds: `{"message", "affected"}`."""
        if not failed_only:
            raise ValueError("only failed runs can be retried (failed_only=True)")
        return self.request("retry", sweep=_sweep_ref(sweep), failed_only=True)

    def release(self, worker: str) -> dict:
        """Takes a worker out of quarantine: `{"message", "affected"}` (1 if it was quarantined, else 0)."""
        return self.request("release", worker=worker)

    def results(self, sweep: SweepRef, *, as_frame: Optional[bool] = None):
        """One row per recorded run: a pandas DataFrame when pandas is installed (or `as_frame=True`),
        else a list of dicts; numbers, integers and booleans typed, a missing value None/NaN."""
        reply = self.request("results", sweep=_sweep_ref(sweep))
        return self._table(reply, as_frame)

    def report(self, sweep: SweepRef, *, as_frame: Optional[bool] = None) -> dict:
        """Every run of the sweep, recorded or not: `{"sweep_id", "name", "grid" (dict), "runs"}`, where
        `runs` is a table like `results` with a `state` column (done, pending, running, failed, cancelled)."""
        reply = self.request("report", sweep=_sweep_ref(sweep))
        return {"sweep_id": reply["sweep_id"], "name": reply["name"], "grid": json.loads(reply["grid"]),
                "runs": self._table(reply, as_frame)}

    @staticmethod
    def _table(reply: dict, as_frame: Optional[bool]):
        if as_frame is None:
            try:
                import pandas  # noqa: F401
                as_frame = True
            except ImportError:
                as_frame = False
        return _results.frame(reply) if as_frame else _results.records(reply)

    # MARK: datasets

    def upload_dataset(self, path: Union[str, os.PathLike], *, progress: Optional[Callable[[int, int], None]] = None
                       ) -> str:
        """Sends a dataset file to the coordinator (what it lacks of it, in 4 MiB pieces); its sha256."""
        path = Path(path).expanduser()
        size = path.stat().st_size
        if size == 0:
            raise TracSweepError(f"dataset {path} is empty")
        sha256 = file_sha256(path)
        held = self.request("dataset", sha256=sha256, total=size)
        if held["complete"]:
            return sha256
        with open(path, "rb") as handle:
            handle.seek(held["received"])
            while not held["complete"]:
                piece = handle.read(UPLOAD_PIECE_BYTES)
                if not piece:
                    raise TracSweepError(f"dataset {path} shrank while it was being sent")
                held = self.request("upload", [piece], sha256=sha256, total=size, offset=held["received"])
                if progress is not None:
                    progress(held["received"], size)
        return sha256

    def _upload_datasets(self, text: str, directory: Path, quiet: bool) -> Dict[str, str]:
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return {}  # the coordinator says what is wrong with the grid
        named = parsed.get("dataset") if isinstance(parsed, dict) else None
        if isinstance(named, str):
            given = [named]
        elif isinstance(named, list):
            given = [item for item in named if isinstance(item, str)]
        else:
            given = []
        hashes = {}
        for name in sorted(set(given)):
            path = Path(name) if os.path.isabs(name) else directory / name
            if path.is_file() and os.access(path, os.R_OK):
                sent = []
                hashes[name] = self.upload_dataset(path, progress=lambda received, total: sent.append(received))
                if sent and not quiet:
                    print(f"uploaded {path.name} ({path.stat().st_size} bytes, sha256 {hashes[name][:12]})",
                          flush=True)
        return hashes

    # MARK: waiting

    def wait(self, sweep: SweepRef, *, poll: float = 1.0, timeout: Optional[float] = None,
             progress: Optional[bool] = None, check: bool = False) -> dict:
        """Waits until no run of the sweep is pending or running; returns its final counts. Shows a
        progress bar (tqdm, in a terminal or a notebook) when tqdm is installed, else a line each time
        the counts change; `progress=False`: nothing. Each failed attempt of the sweep is shown once.
        `check=True` raises RunsFailed when runs failed; `timeout` (seconds) raises WaitTimeout."""
        ref = _sweep_ref(sweep)
        show = True if progress is None else progress
        runs = set()
        try:
            report = self.request("report", sweep=ref)
            column = report["columns"].index("run_id")
            runs = {row[column] for row in report["rows"]}
        except (KeyError, ValueError):
            pass
        bar = _Progress(ref, enabled=show)
        shown = set()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                status = self.status(ref)
                entry = next((s for s in status["sweeps"] if ref in (s["id"], s["name"])), None)
                if entry is None:
                    raise TracSweepError(f"the coordinator's status has no sweep {ref}")
                bar.update(entry)
                for failure in status.get("recent_failures", []):
                    key = (failure["run_id"], failure["attempt"])
                    ours = failure["run_id"] in runs or entry["id"] in failure.get("sweeps", [])
                    if key in shown or (runs and not ours):
                        continue
                    shown.add(key)
                    if show:
                        tail = " | ".join(failure["stderr_tail"].strip().splitlines()[-2:])
                        kind = "input error" if failure.get("input_error") else "failed"
                        unit = " (BC stage unit)" if failure.get("stage_unit") else ""
                        bar.write(f"{kind}: run {failure['run_id'][:8]}{unit} attempt {failure['attempt']} "
                                  f"on {failure['worker']}: {tail}")
                if entry["pending"] + entry["running"] == 0:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise WaitTimeout(f"sweep {entry['name']} ({entry['id']}) not finished after {timeout:g} s: "
                                      f"{_counts(entry)}", entry)
                time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))
        finally:
            bar.close()
        if check and entry["failed"] > 0:
            raise RunsFailed(f"{entry['failed']} runs of sweep {entry['name']} ({entry['id']}) failed; "
                             f"see status()['recent_failures']", entry)
        return entry


def _counts(entry: dict) -> str:
    return (f"{entry['done']}/{entry['total']} done, {entry['running']} running, {entry['pending']} pending, "
            f"{entry['failed']} failed, {entry['cancelled']} cancelled")


class _Progress:
    """tqdm when it is installed (tqdm.auto: a widget in a notebook), else plain lines on stdout."""

    def __init__(self, sweep: str, enabled: bool) -> None:
        self.enabled = enabled
        self.sweep = sweep
        self.bar = None
        self.last: Optional[Tuple[int, ...]] = None
        self.tqdm = None
        if enabled:
            try:
                from tqdm.auto import tqdm
                self.tqdm = tqdm
            except ImportError:
                self.tqdm = None

    def update(self, entry: dict) -> None:
        if not self.enabled:
            return
        finished = entry["done"] + entry["failed"] + entry["cancelled"]
        counts = (entry["total"], finished, entry["running"], entry["failed"], entry["cancelled"])
        if self.tqdm is not None:
            if self.bar is None:
                self.bar = self.tqdm(total=entry["total"], desc=entry["name"], unit="run", dynamic_ncols=True)
            if self.bar.total != entry["total"]:
                self.bar.total = entry["total"]
            self.bar.n = finished
            self.bar.set_postfix(running=entry["running"], failed=entry["failed"], refresh=False)
            self.bar.refresh()
        elif counts != self.last:
            print(f"{entry['name']} ({entry['id']}): {_counts(entry)}", flush=True)
        self.last = counts

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, file=sys.stdout, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
