"""The Python client against a real coordinator and real workers, and the protocol's conformance suite.

Every reply is checked against what docs/PROTOCOL.md promises: its fields, their JSON types, the
error codes and subjects. When the document and the coordinator disagree, a test here fails.
The runs are tiny (a synthetic BallCircle-shaped dataset, 200 training steps, no evaluation except
in the one test about evaluated results), so the file takes well under a minute on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import signal
import stat
import sys
import time
from pathlib import Path

import pytest
import zmq

from conftest import (BINARY, ROOT, Cluster, free_port, generate_keys, make_dataset, requires_binary,
                      write_grid)

import trac_sweep
from trac_sweep.wire import PROTOCOL_VERSION, TAG
from trac_sweep import (Coordinator, ConfigurationError, DatasetNotAllowed, InvalidIdentifier, InvalidInput,
                        KeyFileError, Malformed, NoAnswer, Refused, RunsFailed, Sweep, UnknownDataset,
                        UnknownSweep, UnknownWorker)

pytestmark = requires_binary

# docs/PROTOCOL.md, "Result columns": every column of `results`, in order, with its kind.
RESULT_COLUMNS = [
    ("sweep", "text"), ("run_id", "text"), ("point", "text"), ("setting", "text"), ("task", "text"),
    ("algorithm", "text"),
    ("x", "number"), ("y", "number"), ("alpha", "number"), ("eta", "number"), ("beta", "number"),
    ("gamma", "number"), ("seg_ratio", "number"), ("batch_size", "integer"), ("lr", "number"),
    ("bc_steps", "integer"), ("steps", "integer"), ("reference", "text"), ("segments", "text"),
    ("warmup_steps", "integer"), ("trac_lr_scale", "number"), ("cost_threshold", "number"),
    ("seed", "integer"), ("normalized_reward", "number"), ("normalized_reward_std", "number"),
    ("normalized_cost", "number"), ("normalized_cost_std", "number"), ("safe", "boolean"),
    ("reward_return", "number"), ("cost_return", "number"), ("eval_episodes", "integer"),
    ("attempt", "integer"), ("worker", "text"), ("train_seconds", "number"), ("policy", "text"),
    ("bc_stage", "text"), ("steps_trained", "integer"), ("audit", "text"),
]
JSON_TYPES = {"text": str, "integer": int, "number": float, "boolean": bool}
FOUR_MIB = 4 << 20


PROTOCOL_DOC = (ROOT / "docs" / "PROTOCOL.md").read_text()


def assert_shape(value: dict, fields: dict, what: str) -> None:
    """`value` has every field of `fields`, each of its JSON type (bool is not an int, an int is a
    number), and no field that docs/PROTOCOL.md does not name (a later version may add fields: the
    document names them). Never an `ok` field."""
    assert isinstance(value, dict), f"{what}: not an object: {value!r}"
    assert set(fields) <= set(value), f"{what}: fields {sorted(value)} lack {sorted(set(fields) - set(value))}"
    undocumented = [name for name in set(value) - set(fields) if f"`{name}`" not in PROTOCOL_DOC]
    assert not undocumented and "ok" not in value, f"{what}: undocumented fields {undocumented}"
    for name, kind in fields.items():
        item = value[name]
        if kind is float:
            ok = type(item) in (int, float)
        elif kind is int:
            ok = type(item) is int
        else:
            ok = isinstance(item, kind)
        assert ok, f"{what}.{name}: {item!r} is not {kind.__name__}"


SWEEP_FIELDS = {"id": str, "name": str, "total": int, "pending": int, "running": int, "done": int, "failed": int,
                "cancelled": int, "duplicates": int, "lost_attempts": int, "age_seconds": float}
WORKER_FIELDS = {"id": str, "host": str, "slots": int, "running": list, "state": str, "quarantined": bool,
                 "consecutive_failures": int}
FAILURE_FIELDS = {"run_id": str, "attempt": int, "worker": str, "exit_status": int, "stderr_tail": str,
                  "input_error": bool, "sweeps": list, "stage_unit": bool}
CHANGE_FIELDS = {"message": str, "affected": int}


# MARK: a coordinator and one worker shared by the module

@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    directory = tmp_path_factory.mktemp("plain")
    cluster = Cluster(directory)
    try:
        cluster.start_coordinator()
        environment = {}
        if (ROOT / ".venv" / "bin" / "python").exists():
            environment = {"TRAC_PYTHON": str(ROOT / ".venv" / "bin" / "python"),
                           "TRAC_EVALUATOR": str(ROOT / "scripts" / "evaluator.py")}
        cluster.worker_id = cluster.start_worker("a", slots=2, environment=environment)
        (directory / "data").mkdir()
        make_dataset(directory / "data" / "small.hdf5")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def client(plain):
    with Coordinator(plain.endpoint, timeout=20) as c:
        yield c


@pytest.fixture(scope="module")
def finished(plain, client):
    """A sweep of 4 runs (2 alphas x 2 seeds), submitted from a grid file whose dataset path is relative
    (so the client uploads it), and waited for."""
    grid = write_grid(plain.directory, "first", "data/small.hdf5", alphas=(0.1, 0.2), seeds=(0, 1))
    sweep = client.submit(grid)
    final = client.wait(sweep, progress=False, timeout=120)
    assert final["done"] == 4, f"{final}\n{plain.logs()}"
    return grid, sweep


def test_submit_uploads_the_dataset_and_answers_the_documented_fields(plain, client, finished):
    grid, sweep = finished
    assert isinstance(sweep, Sweep)
    assert (sweep.name, sweep.runs, sweep.created) == ("first", 4, True)
    assert len(sweep.id) == 8 and all(c in "0123456789abcdef" for c in sweep.id)
    # The client uploaded the dataset (the coordinator could not read it: not in its --datasets).
    data = plain.directory / "data" / "small.hdf5"
    held = client.request("dataset", sha256=hashlib.sha256(data.read_bytes()).hexdigest(),
                          total=data.stat().st_size)
    assert held == {"received": data.stat().st_size, "complete": True}
    # Submitting again is a no-op: the same sweep, every run already done. The raw reply's fields:
    again = client.request("submit", grid=grid.read_text(), grid_directory=str(grid.parent),
                           dataset_hashes={"data/small.hdf5": hashlib.sha256(data.read_bytes()).hexdigest()})
    assert_shape(again, {"sweep_id": str, "name": str, "runs": int, "already_done": int, "created": bool}, "submit")
    assert again == {"sweep_id": sweep.id, "name": "first", "runs": 4, "already_done": 4, "created": False}
    assert client.submit(grid) == Sweep(sweep.id, "first", 4, 4, False)
    # A grid as a dict, under another name, its dataset by absolute path: the runs are the same (a run
    # is named by its content, the dataset by its sha256), so all of them are already done.
    as_dict = json.loads(grid.read_text())
    as_dict.update(name="first-as-dict", dataset=str(data))
    same_runs = client.submit(as_dict)
    assert (same_runs.runs, same_runs.already_done, same_runs.created) == (4, 4, True)


def test_results_is_a_typed_dataframe_with_the_documented_columns(plain, client, finished):
    import pandas as pd

    _, sweep = finished
    frame = client.results(sweep)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == [name for name, _ in RESULT_COLUMNS]
    assert len(frame) == 4 and frame["run_id"].is_unique
    for name, kind in RESULT_COLUMNS:
        dtype = frame[name].dtype
        if kind == "integer":
            assert dtype == "int64", f"{name}: {dtype}"
        elif kind == "number":
            assert dtype == "float64", f"{name}: {dtype}"
        elif kind == "boolean":
            assert str(dtype) in ("bool", "boolean"), f"{name}: {dtype}"
        else:
            assert pd.api.types.is_string_dtype(dtype) or dtype == object, f"{name}: {dtype}"
    assert sorted(frame["alpha"].unique()) == [0.1, 0.2]
    assert sorted(frame["seed"].unique()) == [0, 1]
    assert (frame["steps"] == 200).all() and (frame["eval_episodes"] == 0).all()
    assert (frame["worker"] == plain.worker_id).all()
    assert (frame["train_seconds"] > 0).all()
    # No evaluation asked for: the evaluation's fields are missing values, not zeros.
    assert frame["normalized_reward"].isna().all() and frame["safe"].isna().all()
    # Without pandas (or as_frame=False): dicts of typed values.
    rows = client.results(sweep.name, as_frame=False)
    assert [list(row) for row in rows] == [[name for name, _ in RESULT_COLUMNS]] * 4
    for row in rows:
        assert type(row["alpha"]) is float and type(row["seed"]) is int and type(row["attempt"]) is int
        assert row["safe"] is None and row["normalized_reward"] is None


def test_results_reply_is_text_rows_with_types(client, finished):
    _, sweep = finished
    reply = client.request("results", sweep=sweep.id)
    assert_shape(reply, {"columns": list, "types": list, "rows": list}, "results")
    assert reply["columns"] == [name for name, _ in RESULT_COLUMNS]
    assert reply["types"] == [kind for _, kind in RESULT_COLUMNS]
    for row in reply["rows"]:
        assert len(row) == len(reply["columns"]) and all(type(field) is str for field in row)


def test_cli_results_json_gives_numbers_and_booleans(plain, finished):
    _, sweep = finished
    result = plain.cli("results", sweep.id, "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 4
    for row in rows:
        assert list(row) == [name for name, _ in RESULT_COLUMNS], "keys in column order"
        for name, kind in RESULT_COLUMNS:
            if row[name] is None:
                # Missing values: an evaluation not made, a result not drawn for audit.
                assert name in ("normalized_reward", "normalized_reward_std", "normalized_cost",
                                "normalized_cost_std", "safe", "reward_return", "cost_return", "audit"), name
                continue
            expected = JSON_TYPES[kind]
            if expected is float:
                assert type(row[name]) in (int, float), f"{name}: {row[name]!r}"
            else:
                assert type(row[name]) is expected, f"{name}: {row[name]!r}"
    assert sorted(row["alpha"] for row in rows) == [0.1, 0.1, 0.2, 0.2]


def test_an_evaluated_run_has_a_boolean_safe_and_finite_numbers(plain, client):
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv with the evaluator (scripts/setup.sh)")
    grid = write_grid(plain.directory, "evaluated", "data/small.hdf5", seeds=(7,), steps=100, episodes=1)
    sweep = client.submit(grid)
    final = client.wait(sweep, progress=False, timeout=120)
    assert final["done"] == 1, f"{final}\n{client.status()['recent_failures']}\n{plain.logs()}"
    frame = client.results(sweep)
    assert frame["safe"].dtype == "bool"
    for name in ("normalized_reward", "normalized_cost", "reward_return", "cost_return"):
        assert math.isfinite(frame[name].iloc[0]), name
    assert frame["normalized_reward_std"].iloc[0] == 0 or math.isfinite(frame["normalized_reward_std"].iloc[0])
    (row,) = json.loads(plain.cli("results", sweep.id, "--format", "json").stdout)
    assert type(row["safe"]) is bool and type(row["normalized_cost"]) in (int, float)
    assert row["eval_episodes"] == 1


def test_report_lists_every_run_with_its_state(client, finished):
    grid, sweep = finished
    report = client.report(sweep)
    assert report["sweep_id"] == sweep.id and report["name"] == "first"
    assert report["grid"]["name"] == "first", "the grid as canonical JSON, parsed"
    runs = report["runs"]
    assert list(runs["state"]) == ["done"] * 4
    raw = client.request("report", sweep=sweep.id)
    assert_shape(raw, {"sweep_id": str, "name": str, "grid": str, "columns": list, "types": list, "rows": list},
                 "report")
    assert raw["columns"] == [name for name, _ in RESULT_COLUMNS] + ["state"]
    assert raw["types"] == [kind for _, kind in RESULT_COLUMNS] + ["text"]


def test_status_reply_shape_and_a_real_age(plain, client, finished):
    _, sweep = finished
    status = client.request("status")
    assert_shape(status, {"sweeps": list, "workers": list, "recent_failures": list}, "status")
    for entry in status["sweeps"]:
        assert_shape(entry, SWEEP_FIELDS, "status.sweeps[]")
    for worker in status["workers"]:
        assert_shape(worker, WORKER_FIELDS, "status.workers[]")
        assert worker["state"] in ("online", "offline", "left")
        assert all(isinstance(run, str) and len(run) == 16 for run in worker["running"])
    assert any(w["id"] == plain.worker_id and w["state"] == "online" and w["slots"] == 2 for w in status["workers"])
    # trac-sweep worker says which BLAS kernel its trainers use; status shows it (section 3).
    (real,) = [w for w in status["workers"] if w["id"] == plain.worker_id]
    assert isinstance(real.get("blas"), str) and real["blas"], real
    for failure in status["recent_failures"]:
        assert_shape(failure, FAILURE_FIELDS, "status.recent_failures[]")
    first = client.sweep(sweep)
    assert first["age_seconds"] > 0, "seconds since the sweep was submitted"
    time.sleep(0.3)
    later = client.sweep(sweep.id)
    assert later["age_seconds"] >= first["age_seconds"] + 0.25
    # A status of one sweep lists only it.
    assert [s["id"] for s in client.status(sweep)["sweeps"]] == [sweep.id]


def test_wait_shows_progress_with_tqdm_or_plain_lines(client, finished, capsys, monkeypatch):
    _, sweep = finished
    final = client.wait(sweep)
    assert final["done"] == 4
    out, err = capsys.readouterr()
    assert "first" in err and "4/4" in err, f"tqdm's bar: {err!r}"
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    client.wait(sweep)
    out, err = capsys.readouterr()
    assert f"first ({sweep.id}): 4/4 done, 0 running, 0 pending, 0 failed, 0 cancelled" in out
    client.wait(sweep, progress=False)
    assert capsys.readouterr() == ("", "")


def test_results_without_pandas_are_dicts(client, finished, monkeypatch):
    _, sweep = finished
    monkeypatch.setitem(sys.modules, "pandas", None)
    rows = client.results(sweep)
    assert isinstance(rows, list) and len(rows) == 4 and type(rows[0]["batch_size"]) is int


def test_cancel_answers_how_many_runs_it_cancelled(plain, client):
    grid = write_grid(plain.directory, "cancel-me", "data/small.hdf5", alphas=(0.05, 0.1, 0.3, 0.5),
                      seeds=(5, 6), steps=4000)
    sweep = client.submit(grid)
    assert sweep.runs == 10
    change = client.cancel(sweep)
    assert_shape(change, CHANGE_FIELDS, "cancel")
    after = client.sweep(sweep)
    assert change["affected"] == after["cancelled"] == 10 - after["done"] - after["failed"]
    assert change["affected"] >= 8, "at most the 2 runs started in between can have finished"
    assert client.cancel(sweep)["affected"] == 0, "nothing left to cancel"
    with pytest.raises(Refused) as refused:
        client.retry(sweep)
    assert refused.value.code == "refused"


def test_errors_carry_their_code_message_and_subject(plain, client, finished):
    grid, sweep = finished
    with pytest.raises(UnknownSweep) as unknown:
        client.status("no-such-sweep")
    assert unknown.value.code == "unknown_sweep" and unknown.value.subject == "no-such-sweep"
    assert sweep.id in unknown.value.message, "the message lists the known sweeps"
    for command in ("results", "report", "cancel", "retry"):
        with pytest.raises(UnknownSweep):
            client.request(command, sweep="no-such-sweep")
        with pytest.raises(Malformed):
            client.request(command)  # which sweep?
    with pytest.raises(InvalidIdentifier) as invalid:
        client.release("not a worker id!")
    assert invalid.value.code == "invalid_identifier" and "worker" in invalid.value.message
    with pytest.raises(UnknownWorker) as ghost:
        client.release("ghost-1")
    assert ghost.value.code == "unknown_worker" and ghost.value.subject == "ghost-1"
    with pytest.raises(Malformed):
        client.request("frobnicate")
    with pytest.raises(InvalidInput) as bad_grid:
        client.submit({"name": "broken"})
    assert bad_grid.value.code == "invalid_input" and bad_grid.value.message
    # A dataset the client cannot read and the coordinator may not: refused, saying how to allow it.
    outside = json.loads(grid.read_text())
    outside.update(name="outside", dataset="/nonexistent-trac-sweep-test/data.hdf5")
    with pytest.raises(DatasetNotAllowed) as not_allowed:
        client.submit(outside)
    assert "--datasets" in not_allowed.value.message
    missing = "ab" * 32
    with pytest.raises(UnknownDataset) as unknown_dataset:
        client.request("submit", grid=json.dumps(dict(outside, name="by-hash", dataset="d.hdf5")),
                       grid_directory="/", dataset_hashes={"d.hdf5": missing})
    assert unknown_dataset.value.subject == missing
    # The same name for another grid.
    other = json.loads(grid.read_text())
    other.update(seeds=[42], dataset=str(grid.parent / "data" / "small.hdf5"))
    with pytest.raises(Refused) as taken:
        client.submit(other)
    assert "first" in taken.value.message
    # The release of a worker that is not quarantined changes nothing, and says so.
    change = client.release(plain.worker_id)
    assert_shape(change, CHANGE_FIELDS, "release")
    assert change["affected"] == 0


def test_dataset_upload_is_flow_controlled_and_checked(client):
    data = os.urandom(FOUR_MIB + 100)
    sha256 = hashlib.sha256(data).hexdigest()
    held = client.request("dataset", sha256=sha256, total=len(data))
    assert_shape(held, {"received": int, "complete": bool}, "dataset")
    assert held == {"received": 0, "complete": False}
    # A piece above 4 MiB is refused, and nothing of it is kept.
    with pytest.raises(InvalidInput) as too_large:
        client.request("upload", [data[:FOUR_MIB + 1]], sha256=sha256, total=len(data), offset=0)
    assert str(FOUR_MIB) in too_large.value.message
    assert client.request("dataset", sha256=sha256, total=len(data))["received"] == 0
    held = client.request("upload", [data[:FOUR_MIB]], sha256=sha256, total=len(data), offset=0)
    assert held == {"received": FOUR_MIB, "complete": False}
    with pytest.raises(InvalidInput):  # not where the upload stands
        client.request("upload", [data[FOUR_MIB:]], sha256=sha256, total=len(data), offset=FOUR_MIB - 1)
    held = client.request("upload", [data[FOUR_MIB:]], sha256=sha256, total=len(data), offset=FOUR_MIB)
    assert held == {"received": len(data), "complete": True}
    assert client.request("dataset", sha256=sha256, total=len(data)) == held
    # Bytes that do not hash to the sha256 given are refused and dropped.
    wrong = "cd" * 32
    with pytest.raises(InvalidInput) as mismatch:
        client.request("upload", [b"0123456789"], sha256=wrong, total=10, offset=0)
    assert "hash" in mismatch.value.message
    assert client.request("dataset", sha256=wrong, total=10) == {"received": 0, "complete": False}
    with pytest.raises(InvalidInput):
        client.request("dataset", sha256=wrong, total=0)
    with pytest.raises(InvalidIdentifier):
        client.request("dataset", sha256="not-a-hash", total=10)


class RawPeer:
    """A bare DEALER speaking the protocol's frames, for messages the client never sends."""

    def __init__(self, endpoint: str, identity: bytes = b"") -> None:
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        if identity:
            self.socket.setsockopt(zmq.ROUTING_ID, identity)
        self.socket.connect(endpoint)

    def receive(self, timeout: float = 10) -> list:
        assert self.socket.poll(int(timeout * 1000)), "no message"
        return self.socket.recv_multipart()

    def send(self, *frames: bytes) -> list:
        self.socket.send_multipart(list(frames))
        assert self.socket.poll(10000), "no answer"
        return self.socket.recv_multipart()

    def error(self, *frames: bytes) -> dict:
        reply = self.send(*frames)
        assert reply[:2] == [TAG, b"error"], reply[:2]
        body = json.loads(reply[2])
        assert set(body) <= {"code", "message", "subject"} and {"code", "message"} <= set(body), body
        return body

    def close(self) -> None:
        self.socket.close()
        self.context.term()


def fetch(peer: RawPeer, sha256: str, offset: int, length: int) -> list:
    return peer.send(TAG, b"fetch",
                     json.dumps({"sha256": sha256, "offset": offset, "length": length}).encode())


def test_fetch_answers_chunks_and_refuses_offsets_outside_the_file(plain, client):
    data = (plain.directory / "data" / "small.hdf5").read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    client.upload_dataset(plain.directory / "data" / "small.hdf5")
    peer = RawPeer(plain.endpoint)
    try:
        tag, kind, body, *attachments = fetch(peer, sha256, 100, 50)
        assert (tag, kind) == (TAG, b"chunk")
        assert json.loads(body) == {"sha256": sha256, "offset": 100, "total": len(data)}
        assert attachments == [data[100:150]]
        # A length past the end gives the rest; at the end, an empty chunk.
        _, _, _, rest = fetch(peer, sha256, len(data) - 10, 1 << 20)
        assert rest == data[-10:]
        _, kind, body, empty = fetch(peer, sha256, len(data), 10)
        assert kind == b"chunk" and empty == b""
        for offset in (len(data) + 1, -1):
            error = peer.error(TAG, b"fetch",
                               json.dumps({"sha256": sha256, "offset": offset, "length": 10}).encode())
            assert error["code"] == "invalid_input" and error.get("subject") == sha256, error
        missing = "ef" * 32
        error = peer.error(TAG, b"fetch", json.dumps({"sha256": missing, "offset": 0, "length": 10}).encode())
        assert error["code"] == "unknown_dataset" and error["subject"] == missing
    finally:
        peer.close()


def test_a_fetch_answers_at_most_4_mib(plain, client):
    data = os.urandom(FOUR_MIB + 5)
    path = plain.directory / "big.bin"
    path.write_bytes(data)
    sha256 = client.upload_dataset(path)
    assert sha256 == hashlib.sha256(data).hexdigest()
    peer = RawPeer(plain.endpoint)
    try:
        _, _, _, chunk = fetch(peer, sha256, 0, 64 << 20)
        assert chunk == data[:FOUR_MIB]
    finally:
        peer.close()


def test_fetches_past_the_allowance_are_answered_busy_with_the_sha256(plain, client):
    """docs/PROTOCOL.md section 9: a peer that asks for many chunks without reading them gets `busy`
    (subject: the sha256) for those past its allowance; the chunks it does get are the file's bytes,
    and it can fetch again once it has read them."""
    data = os.urandom(FOUR_MIB)
    path = plain.directory / "flow.bin"
    path.write_bytes(data)
    sha256 = client.upload_dataset(path)
    context = zmq.Context()
    greedy = context.socket(zmq.DEALER)
    greedy.setsockopt(zmq.LINGER, 0)
    greedy.setsockopt(zmq.RCVHWM, 1)
    greedy.setsockopt(zmq.RCVBUF, 65536)
    greedy.connect(plain.endpoint)
    try:
        request = json.dumps({"sha256": sha256, "offset": 0, "length": FOUR_MIB}).encode()
        for _ in range(40):
            greedy.send_multipart([TAG, b"fetch", request])
        chunks, busy = 0, []
        while greedy.poll(3000):
            tag, kind, body, *attachments = greedy.recv_multipart()
            if kind == b"chunk":
                assert attachments == [data], "a chunk is the file's bytes"
                chunks += 1
            else:
                assert kind == b"error", kind
                busy.append(json.loads(body))
        assert chunks + len(busy) == 40, f"every fetch is answered once: {chunks} chunks, {len(busy)} busy"
        assert busy and chunks >= 1, f"{chunks} chunks, {len(busy)} busy"
        assert all(error["code"] == "busy" and error["subject"] == sha256 for error in busy), busy[:2]
        # Having read everything, the peer is served again.
        greedy.send_multipart([TAG, b"fetch", request])
        assert greedy.poll(10000)
        assert greedy.recv_multipart()[1] == b"chunk"
    finally:
        greedy.close()
        context.term()


def test_frames_that_are_not_a_request_get_the_documented_errors(plain):
    peer = RawPeer(plain.endpoint)
    try:
        other = f"trac-sweep/{PROTOCOL_VERSION + 1}"
        error = peer.error(other.encode(), b"request", b'{"command": "status"}')
        assert error["code"] == "version_mismatch"
        assert error["message"].startswith(
            f"protocol version mismatch: the peer speaks {other}, this side speaks {trac_sweep.PROTOCOL}")
        assert peer.error(TAG, b"frobnicate", b"{}")["code"] == "unknown_type"
        assert peer.error(TAG, b"request")["code"] == "malformed"
        assert peer.error(TAG, b"request", b"{not json")["code"] == "malformed"
        bad = peer.error(TAG, b"request", b'{"command": "status", "sweep": 5}')
        assert bad["code"] == "malformed" and "sweep" in bad["message"], "names the bad field"
        # ...and the coordinator keeps serving.
        reply = peer.send(TAG, b"request", b'{"command": "status", "future_field": 1}')
        assert reply[:2] == [TAG, b"reply"], "unknown fields are ignored"
    finally:
        peer.close()


def test_the_client_speaks_the_documented_protocol_version():
    tag = re.search(r"the protocol tag, the 12 ASCII bytes `(trac-sweep/\d+)`", PROTOCOL_DOC)
    assert tag, "docs/PROTOCOL.md names the protocol tag in section 2"
    assert trac_sweep.PROTOCOL == tag.group(1), "python/trac_sweep/wire.py's PROTOCOL_VERSION is the document's"


def test_nothing_listening_is_named_at_once():
    address = f"tcp://127.0.0.1:{free_port()}"
    with Coordinator(address, timeout=30) as c:
        started = time.monotonic()
        with pytest.raises(NoAnswer) as no_answer:
            c.status()
    assert str(no_answer.value).startswith(f"nothing answered at {address}: nothing listens there")
    assert no_answer.value.address == address
    assert time.monotonic() - started < 15, "refused at once, not after the timeout"


def test_addresses_and_config(tmp_path, monkeypatch):
    with pytest.raises(ConfigurationError):
        Coordinator("http://head:5555")
    with pytest.raises(ConfigurationError):
        Coordinator("tcp://*:5555")
    monkeypatch.setenv("TRAC_SWEEP_COORDINATOR", "tcp://from-env:1234")
    assert Coordinator().address == "tcp://from-env:1234"
    monkeypatch.delenv("TRAC_SWEEP_COORDINATOR")
    config = Path(os.environ["HOME"]) / ".config" / "trac-sweep" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"coordinator": "tcp://from-config:4321"}))
    assert Coordinator().address == "tcp://from-config:4321"
    assert Coordinator("tcp://given:1").address == "tcp://given:1"
    config.write_text("{")
    with pytest.raises(ConfigurationError):
        Coordinator()
    config.unlink()
    assert Coordinator().address == "tcp://127.0.0.1:5555"


# MARK: failures, quarantine, retry, release

def test_failed_runs_quarantine_retry_cancel_release(tmp_path, capsys):
    cluster = Cluster(tmp_path)
    failing = tmp_path / "failing-trainer"
    failing.write_text("#!/bin/sh\necho 'boom: this trainer always fails' >&2\nexit 1\n")
    failing.chmod(0o755)
    try:
        cluster.start_coordinator("--max-attempts", "1", "--quarantine-after", "2")
        worker = cluster.start_worker("bad", "--trainer", str(failing), "--no-evaluate")
        make_dataset(tmp_path / "data.hdf5")
        with Coordinator(cluster.endpoint) as c:
            sweep = c.submit(write_grid(tmp_path, "doomed", "data.hdf5", alphas=(0.1, 0.2), seeds=(0, 1)))
            with pytest.raises(RunsFailed) as failed:
                c.wait(sweep, check=True, timeout=60)
            assert failed.value.sweep["failed"] == 4
            out = capsys.readouterr().out
            assert "failed: run" in out and "boom: this trainer always fails" in out, out
            status = c.status()
            (me,) = [w for w in status["workers"] if w["id"] == worker]
            assert me["quarantined"] is True and me["consecutive_failures"] >= 2
            failures = [f for f in status["recent_failures"] if f["worker"] == worker]
            assert len(failures) == 2
            for failure in failures:
                assert_shape(failure, FAILURE_FIELDS, "status.recent_failures[]")
                assert failure["exit_status"] == 1 and failure["input_error"] is False
                assert "boom" in failure["stderr_tail"] and failure["attempt"] == 1
                # Two alphas share each seed's BC stage: its unit failed, and the two runs with it.
                assert failure["stage_unit"] is True and failure["sweeps"] == [sweep.id]
            # Retry: both runs queued again; the quarantined worker gets none of them.
            retried = c.retry(sweep, failed_only=True)
            assert_shape(retried, CHANGE_FIELDS, "retry")
            assert retried["affected"] == 4
            assert {k: c.sweep(sweep)[k] for k in ("pending", "failed")} == {"pending": 4, "failed": 0}
            assert c.retry(sweep)["affected"] == 0, "nothing failed any more"
            with pytest.raises(ValueError):
                c.retry(sweep, failed_only=False)
            assert c.cancel(sweep)["affected"] == 4
            assert c.release(worker) == {"message": f"released {worker} from quarantine", "affected": 1}
            assert c.release(worker)["affected"] == 0
    finally:
        cluster.stop()


# MARK: CURVE

def test_curve_client_with_keys_from_arguments_environment_or_config(tmp_path, monkeypatch, capsys):
    keys = tmp_path / "keys"
    authorized = tmp_path / "authorized"
    authorized.mkdir()
    coordinator_key, coordinator_pub = generate_keys(keys, "coordinator")
    for name in ("node1", "alice"):
        _, public = generate_keys(keys, name)
        (authorized / public.name).write_bytes(public.read_bytes())
    mallory_key, _ = generate_keys(keys, "mallory")
    alice_key, alice_pub = keys / "alice.key", keys / "alice.pub"
    cluster = Cluster(tmp_path)
    try:
        cluster.start_coordinator("--curve-secret", str(coordinator_key), "--authorized-keys", str(authorized))
        worker = cluster.start_worker("node1", "--curve-secret", str(keys / "node1.key"), "--server-key",
                                      str(coordinator_pub), "--no-evaluate")
        make_dataset(tmp_path / "data.hdf5")
        with Coordinator(cluster.endpoint, client_keys=alice_key, server_key=coordinator_pub) as c:
            assert c.keys is not None and "secret='…'" in repr(c.keys)
            grid = write_grid(tmp_path, "secure", "data.hdf5", seeds=(3,))
            sweep = c.submit(grid)
            size = (tmp_path / "data.hdf5").stat().st_size
            assert f"uploaded data.hdf5 ({size} bytes, sha256 " in capsys.readouterr().out
            assert c.submit(grid).created is False
            assert "uploaded" not in capsys.readouterr().out, "nothing to send the second time"
            assert c.wait(sweep, progress=False, timeout=60)["done"] == 1
            (row,) = c.results(sweep, as_frame=False)
            assert row["worker"] == worker and row["seed"] == 3
        # The same keys from the environment, then from the config file, as the CLI finds them.
        monkeypatch.setenv("TRAC_SWEEP_CURVE_SECRET", str(alice_key))
        monkeypatch.setenv("TRAC_SWEEP_SERVER_KEY", str(coordinator_pub))
        with Coordinator(cluster.endpoint) as c:
            assert [s["id"] for s in c.status()["sweeps"]] == [sweep.id]
        monkeypatch.delenv("TRAC_SWEEP_CURVE_SECRET")
        monkeypatch.delenv("TRAC_SWEEP_SERVER_KEY")
        config = Path(os.environ["HOME"]) / ".config" / "trac-sweep" / "config.json"
        config.parent.mkdir(parents=True)
        config.write_text(json.dumps({"coordinator": cluster.endpoint, "curve_secret": str(alice_key),
                                      "server_key": str(coordinator_pub)}))
        with Coordinator() as c:
            assert c.sweep(sweep)["done"] == 1
        config.unlink()
        # Z85 keys given as text work as well as files.
        public, secret = trac_sweep.read_key_pair(alice_key)
        with Coordinator(cluster.endpoint, client_keys=(public, secret),
                         server_key=trac_sweep.read_public_key(coordinator_pub)) as c:
            assert c.sweep(sweep)["done"] == 1
        # Plaintext, or a key that is not authorized: no answer, and the error says where and why.
        with Coordinator(cluster.endpoint, timeout=1) as c:
            with pytest.raises(NoAnswer) as plaintext:
                c.status()
        assert str(plaintext.value).startswith(f"nothing answered at {cluster.endpoint} within 1 s")
        assert "CURVE" in str(plaintext.value)
        with Coordinator(cluster.endpoint, client_keys=mallory_key, server_key=coordinator_pub, timeout=1) as c:
            with pytest.raises(NoAnswer) as unauthorized:
                c.status()
        assert "--authorized-keys" in str(unauthorized.value)
        assert "key not authorized" in cluster.log("coordinator")
    finally:
        cluster.stop()


def test_key_files_are_checked(tmp_path):
    keys = tmp_path / "keys"
    key, public = generate_keys(keys, "alice")
    _, server = generate_keys(keys, "coordinator")
    with pytest.raises(KeyFileError, match="without the coordinator's public key"):
        Coordinator("tcp://127.0.0.1:1", client_keys=key)
    with pytest.raises(KeyFileError, match="without this client's key pair"):
        Coordinator("tcp://127.0.0.1:1", server_key=server)
    with pytest.raises(KeyFileError, match="give the .key file"):
        Coordinator("tcp://127.0.0.1:1", client_keys=public, server_key=server)
    with pytest.raises(KeyFileError, match="does not exist"):
        Coordinator("tcp://127.0.0.1:1", client_keys=tmp_path / "nope.key", server_key=server)
    readable = tmp_path / "readable.key"
    readable.write_bytes(key.read_bytes())
    readable.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        Coordinator("tcp://127.0.0.1:1", client_keys=readable, server_key=server)
    # A key file whose public key is not its secret key's.
    lines = key.read_text().splitlines()
    other_public = trac_sweep.read_public_key(server)
    mixed = tmp_path / "mixed.key"
    mixed.write_text("\n".join(f"public-key = {other_public}" if line.startswith("public-key") else line
                               for line in lines) + "\n")
    mixed.chmod(0o600)
    with pytest.raises(KeyFileError, match="not the secret key's"):
        Coordinator("tcp://127.0.0.1:1", client_keys=mixed, server_key=server)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


# MARK: the spec true again (issue 22, part 3): each test pins one statement of docs/PROTOCOL.md

def hello_body(worker_id: str, slots=1, **extra) -> bytes:
    body = {"worker_id": worker_id, "host": "conformance", "slots": slots, "trainer_version": "test",
            "running": [], "spooled": [], "evaluates": []}
    body.update(extra)
    return json.dumps(body).encode()


def test_the_title_names_the_version_of_the_tag():
    title = PROTOCOL_DOC.splitlines()[0]
    assert title == f"# The trac-sweep protocol, version {PROTOCOL_VERSION} (`{trac_sweep.PROTOCOL}`)", title


def test_the_status_reply_line_names_every_field_sent(client, finished):
    line = re.search(r"\| `status` \| [^|]* \| `(\{\"sweeps\".*?\})`", PROTOCOL_DOC)
    assert line, "the status row of the command table shows the reply"
    documented = set(re.findall(r'"(\w+)":', line.group(1)))
    status = client.request("status")
    assert documented == set(status), f"documented {sorted(documented)}, sent {sorted(status)}"
    assert_shape(status["stages"], {"units": int, "done": int, "running": int, "failed": int, "runs": int,
                                    "runs_done": int, "bytes": int, "seconds_saved": float}, "status.stages")
    assert_shape(status["checkpoints"], {"runs": int, "bytes": int}, "status.checkpoints")


def test_results_recorded_counts_runs_not_stage_units(client, finished):
    status = client.request("status")
    recorded = set()
    for sweep in status["sweeps"]:
        recorded |= {row[1] for row in client.request("results", sweep=sweep["id"])["rows"]}
    assert status["stages"]["done"] >= 1, "the finished sweep's runs shared BC stage units"
    metrics = client.request("metrics")
    assert metrics["results_recorded"] == len(recorded), (metrics["results_recorded"], len(recorded))


def test_result_cells_are_strings_and_policy_is_a_path_on_the_coordinator(plain, client, finished):
    _, sweep = finished
    reply = client.request("results", sweep=sweep.id)
    policy = reply["columns"].index("policy")
    for row in reply["rows"]:
        assert all(type(cell) is str for cell in row), "every cell a JSON string, whatever its type"
        path = Path(row[policy])
        assert path.is_absolute() and path.name == "policy.safetensors", path
        # This test runs on the coordinator's machine: the path is its state directory's file.
        assert path.is_file() and (plain.directory / "state") in path.parents, path


def test_fields_of_other_commands_are_ignored(client, finished):
    _, sweep = finished
    status = client.request("status", sweep=sweep.id, worker="not a worker id!", total="many", offset=[],
                            sha256="not-a-hash", grid=5, failed_only="yes")
    assert [s["id"] for s in status["sweeps"]] == [sweep.id]
    assert "results_recorded" in client.request("metrics", sweep=5, worker="!")
    with pytest.raises(InvalidIdentifier):  # a listed field is still checked
        client.request("release", worker="not a worker id!")


def test_numbers_beyond_their_type_name_their_field(plain):
    peer = RawPeer(plain.endpoint)
    sha256 = "ab" * 32
    try:
        cases = [
            (b"hello", hello_body("edge-9").replace(b'"slots": 1', b'"slots": 1e400'), "$.slots"),
            (b"hello", hello_body("edge-9").replace(b'"slots": 1', b'"slots": 99999999999999999999'), "$.slots"),
            (b"request", b'{"command": "dataset", "sha256": "%s", "total": 1e400}' % sha256.encode(), "$.total"),
            (b"fetch", b'{"sha256": "%s", "offset": 0, "length": 18446744073709551616}' % sha256.encode(),
             "$.length"),
            (b"heartbeat", b'{"worker_id": "edge-9", "running": [{"run_id": "0123456789abcdef", '
                           b'"attempt": -1e999}]}', "$.running[0].attempt"),
        ]
        for kind, body, path in cases:
            error = peer.error(TAG, kind, body)
            assert error["code"] == "malformed" and path in error["message"], (body, error)
    finally:
        peer.close()


def test_slots_outside_1_to_4096_are_malformed_and_checks_come_in_order(plain):
    peer = RawPeer(plain.endpoint, identity=b"slots-1")
    try:
        for slots in (0, -1, 4097, 5000):
            error = peer.error(TAG, b"hello", hello_body("slots-1", slots=slots))
            assert error["code"] == "malformed", (slots, error)
            assert "1 to 4096" in error["message"] and "$.slots" in error["message"], error
        # Section 4, "Which check comes first": the body's values before the routing id...
        error = peer.error(TAG, b"hello", hello_body("someone-else", slots=0))
        assert error["code"] == "malformed", error
        # ...and the routing id (`refused`) before anything else the coordinator knows.
        error = peer.error(TAG, b"hello", hello_body("someone-else", slots=1))
        assert error["code"] == "refused" and error.get("subject") == "someone-else", error
        error = peer.error(TAG, b"goodbye", b'{"worker_id": "someone-else", "released": []}')
        assert error["code"] == "refused", "routing id before unknown_worker"
    finally:
        peer.close()


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """A coordinator with no worker: the tests' raw peers are its only workers."""
    directory = tmp_path_factory.mktemp("bare")
    (directory / "data" / "sub").mkdir(parents=True)
    make_dataset(directory / "data" / "small.hdf5")
    cluster = Cluster(directory)
    try:
        cluster.start_coordinator("--datasets", str(directory / "data"))
        yield cluster
    finally:
        cluster.stop()


def test_welcome_cancel_is_empty_and_unwanted_attempts_get_a_cancel_message(bare):
    peer = RawPeer(bare.endpoint, identity=b"raw-cancel")
    unknown = {"run_id": "0123456789abcdef", "attempt": 1}
    try:
        tag, kind, body = peer.send(TAG, b"hello", hello_body("raw-cancel", running=[unknown]))[:3]
        assert kind == b"welcome", body
        welcome = json.loads(body)
        assert_shape(welcome, {"heartbeat_interval_ms": int, "liveness": int, "cancel": list}, "welcome")
        assert welcome["cancel"] == [], "always empty: cancellations come as messages of their own"
        tag, kind, body = peer.receive()[:3]
        assert kind == b"cancel" and json.loads(body) == {"attempt": unknown}, (kind, body)
    finally:
        # Gone, so that the next test's run is not handed to this worker.
        peer.socket.send_multipart([TAG, b"goodbye", b'{"worker_id": "raw-cancel", "released": []}'])
        peer.close()


def test_assign_names_the_dataset_with_display_text_never_a_coordinator_path(bare):
    directory = bare.directory
    grid = json.loads(write_grid(directory, "dotted", "unused").read_text())
    # A path full of `..`, read by the coordinator from its --datasets directory.
    grid["dataset"] = "../sub/../../data/sub/../small.hdf5"
    with Coordinator(bare.endpoint) as c:
        sweep = c.request("submit", grid=json.dumps(grid), grid_directory=str(directory / "data" / "sub"))
        assert sweep["runs"] == 1
    sha256 = hashlib.sha256((directory / "data" / "small.hdf5").read_bytes()).hexdigest()
    peer = RawPeer(bare.endpoint, identity=b"raw-assign")
    try:
        assert peer.send(TAG, b"hello", hello_body("raw-assign"))[1] == b"welcome"
        deadline = time.monotonic() + 20
        assign = None
        heartbeat = json.dumps({"worker_id": "raw-assign", "running": []}).encode()
        while assign is None and time.monotonic() < deadline:
            # Heartbeats keep this worker online (the coordinator's interval here is 0.1 s) until the run
            # reaches it, also when another worker held it first and its lease has to lapse.
            peer.socket.send_multipart([TAG, b"heartbeat", heartbeat])
            if not peer.socket.poll(50):
                continue
            tag, kind, body = peer.socket.recv_multipart()[:3]
            if kind == b"assign":
                assign = json.loads(body)
        assert assign, "the run was assigned to the only worker"
        name = assign["dataset"]["name"]
        assert assign["dataset"]["sha256"] == sha256
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,128}", name), name
        assert name == f"OfflineBallCircle-v0-{sha256[:12]}.hdf5", name
        # Nothing of the grid's path or of the coordinator's directories.
        assert not {"small", "sub", "data", "..", directory.name, directory.parent.name} & set(
            re.split(r"[-/]", name[:-len(".hdf5")])), name
    finally:
        # Leave nothing behind for the next test's peers: the run cancelled (else it is handed to the
        # next raw worker once this one's lease expires) and this worker gone.
        with Coordinator(bare.endpoint) as c:
            c.request("cancel", sweep=sweep["sweep_id"])
        peer.socket.send_multipart([TAG, b"goodbye", b'{"worker_id": "raw-assign", "released": []}'])
        peer.close()


def test_hello_blas_is_shown_by_status_and_bounded(bare):
    peer = RawPeer(bare.endpoint, identity=b"kernel-1")
    try:
        reply = peer.send(TAG, b"hello", hello_body("kernel-1", blas="Zen (AVX2+FMA; conformance)"))
        assert reply[:2] == [TAG, b"welcome"], reply[:2]
        with Coordinator(bare.endpoint) as c:
            (me,) = [w for w in c.status()["workers"] if w["id"] == "kernel-1"]
            assert me["blas"] == "Zen (AVX2+FMA; conformance)", me
        for bad in ("", "x" * 201, "tab\there"):
            error = peer.error(TAG, b"hello", hello_body("kernel-1", blas=bad))
            assert error["code"] == "malformed" and "$.blas" in error["message"], error
        peer.socket.send_multipart([TAG, b"goodbye", b'{"worker_id": "kernel-1", "released": []}'])
    finally:
        peer.close()


def test_a_grid_of_safety_gymnasium_tasks_is_accepted(bare):
    grid = json.loads(write_grid(bare.directory, "gymnasium", str(bare.directory / "data" / "small.hdf5")).read_text())
    grid.update(task="OfflineCarButton1Gymnasium-v0", eval={"episodes": 1, "seed": 0})
    with Coordinator(bare.endpoint) as c:
        sweep = c.submit(grid)
        assert sweep.created and sweep.runs >= 1
        waiting = c.status(sweep.id)["waiting_for"]
        assert [entry["evaluates"] for entry in waiting] == ["safety_gymnasium"], waiting
        assert c.cancel(sweep)["affected"] == sweep.runs


def reload(cluster: Cluster, times: int) -> None:
    """SIGHUP, and wait for the coordinator's `times`-th "authorized keys reloaded" line."""
    cluster.processes["coordinator"].send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while cluster.log("coordinator").count("authorized keys reloaded") < times:
        assert time.monotonic() < deadline, cluster.logs()
        time.sleep(0.05)


def test_a_revoked_key_is_no_longer_served_on_its_open_connection(tmp_path):
    keys = tmp_path / "keys"
    authorized = tmp_path / "authorized"
    authorized.mkdir()
    coordinator_key, coordinator_pub = generate_keys(keys, "coordinator")
    alice_key, alice_pub = generate_keys(keys, "alice")
    (authorized / "alice.pub").write_bytes(alice_pub.read_bytes())
    _, bob_pub = generate_keys(keys, "bob")  # the directory never empties
    (authorized / "bob.pub").write_bytes(bob_pub.read_bytes())
    cluster = Cluster(tmp_path)
    try:
        cluster.start_coordinator("--curve-secret", str(coordinator_key), "--authorized-keys", str(authorized))
        with Coordinator(cluster.endpoint, client_keys=alice_key, server_key=coordinator_pub, timeout=3) as c:
            assert c.status()["sweeps"] == []
            (authorized / "alice.pub").unlink()
            reload(cluster, 1)
            with pytest.raises(NoAnswer):
                c.status()  # the connection opened before the SIGHUP: no longer served
        assert "key no longer authorized" in cluster.log("coordinator")
        (authorized / "alice.pub").write_bytes(alice_pub.read_bytes())
        reload(cluster, 2)
        with Coordinator(cluster.endpoint, client_keys=alice_key, server_key=coordinator_pub, timeout=10) as c:
            assert c.status()["sweeps"] == [], "the key added back is served again"
    finally:
        cluster.stop()
