#!/usr/bin/env python3
"""Roll out a trac-sweep policy file in the task's real simulator.

Bullet-Safety-Gym tasks run in .venv (Python 3.11); Safety-Gymnasium tasks
(Offline*Gymnasium-v0/v1) run in .venv-safety-gymnasium (Python 3.10, MuJoCo);
MetaDrive tasks (OfflineMetadrive-*-v0) run in .venv-metadrive (Python 3.9,
MetaDrive 0.2.6.0 with dsrl 0.1.0's task definitions). The same script serves all
three: the simulator is imported when a task needs it, and a task whose simulator
this Python lacks is refused with a message naming the environment that has it.

Two modes:

  evaluator.py evaluate POLICY --task T --cost-threshold 10 20 40 [--episodes 20] [--seed 0]
      Prints one JSON object on stdout. Exit status 0 on success, 2 for bad input
      (bad policy file, unknown task, bad arguments), 1 for any other failure; the
      error goes to stderr.

  evaluator.py serve
      Long-lived. Reads one JSON request per line on stdin and writes exactly one
      JSON line per request on stdout (flushed). Requests:
        {"id": ..., "op": "evaluate", "policy": PATH, "task": T,
         "cost_thresholds": [10, 20], "episodes": 20, "seed": 0}
        {"id": ..., "op": "actions", "policy": PATH, "observations": [[...], ...]}
        {"id": ..., "op": "ping"}
      A failed request is answered {"id": ..., "ok": false, "error": "..."} and
      the process keeps serving. It exits 0 at end of input.

Only protocol JSON is written to stdout: at start-up the real stdout file
descriptor is duplicated for the protocol and descriptor 1 is pointed at stderr,
so pybullet's C-level banner and any print() land on stderr.

Evaluation protocol (docs/ALGORITHM.md section 9): episode i is started with
np.random.seed(seed + i) and env.reset(seed=seed + i) (Bullet-Safety-Gym draws
its start state from numpy's global generator). Before every reset the cached
environment is put back into one canonical state (the saved physics state,
restored, with a zero action applied), so an episode does not depend on what the
environment ran before: the same policy, episodes and seed give identical
numbers in a fresh process or in a long-lived one, whatever it evaluated before.
Safety-Gymnasium tasks draw their layout and start state from reset(seed=seed + i)
alone (the navigation tasks rebuild their MuJoCo world at every reset; the
velocity tasks reset the MuJoCo data), so the same holds for them.
A MetaDrive task has one map (DSRL's environment_num 1: reset accepts only the task's
start seed, 0, 100 or 200) and draws its traffic from a generator MetaDrive seeds from
os.urandom and never reseeds; its physics also carries state from one episode into
the next. So episode i runs in a fresh MetaDrive simulator whose traffic generator
is seeded with seed + i before the task's reset (MetaDriveEpisodes): the same
holds for MetaDrive, at the price of building the simulator (about 0.4 s of CPU) per
episode. Its cost per step is DSRL's (dsrl/offline_metadrive/gym_envs.py): crash
or out of road, 0.01 per km/h above 10 km/h, and lidar proximity.
"""

from __future__ import annotations

import os

# One BLAS thread: deterministic float32 sums, and no oversubscription when a
# worker runs one trainer per core. Must be set before numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trac_tasks import METADRIVE, SAFETY_GYMNASIUM, TaskSpec, UnknownTaskError, resolve_task  # noqa: E402

POLICY_FORMAT = "trac-policy/1"
HIDDEN = 256
MAX_EPISODES = 100_000


class InputError(ValueError):
    """Bad input from the caller (request, policy file, task). CLI exit status 2."""


class PolicyError(InputError):
    """A policy file that cannot be used."""


class SimulatorMissingError(RuntimeError):
    """The task's simulator is not installed in this Python (the other venv has it)."""


# ----------------------------------------------------------------------------
# Policy file
# ----------------------------------------------------------------------------


@dataclass
class Policy:
    path: str
    weights: tuple[np.ndarray, ...]  # w0, b0, w1, b1, w2, b2 (float32)
    metadata: dict[str, str]

    @property
    def obs_dim(self) -> int:
        return int(self.weights[0].shape[1])

    @property
    def act_dim(self) -> int:
        return int(self.weights[4].shape[0])

    def act(self, observations: np.ndarray) -> np.ndarray:
        """Deterministic forward pass in float32: tanh(W2 relu(W1 relu(W0 s + b0) + b1) + b2).

        observations: [batch, obs_dim]; returns [batch, act_dim] float32.
        """
        w0, b0, w1, b1, w2, b2 = self.weights
        x = np.asarray(observations, dtype=np.float32)
        h = x @ w0.T
        h += b0
        np.maximum(h, np.float32(0.0), out=h)
        h2 = h @ w1.T
        h2 += b1
        np.maximum(h2, np.float32(0.0), out=h2)
        out = h2 @ w2.T
        out += b2
        return np.tanh(out)

    def act_one(self, observation: np.ndarray) -> np.ndarray:
        """The action for one observation (what a rollout uses)."""
        return self.act(np.asarray(observation, dtype=np.float32).reshape(1, -1))[0]


_TENSOR_NAMES = (
    "layers.0.weight",
    "layers.0.bias",
    "layers.1.weight",
    "layers.1.bias",
    "layers.2.weight",
    "layers.2.bias",
)


def load_policy(path: str, task: TaskSpec | None = None) -> Policy:
    """Read and validate a policy file; every error names the file (and the tensor)."""
    from safetensors import safe_open

    p = Path(path)
    if not p.exists():
        raise PolicyError(f"policy file {path}: no such file")
    if not p.is_file():
        raise PolicyError(f"policy file {path}: not a regular file")
    try:
        with safe_open(str(p), framework="numpy") as f:
            metadata = dict(f.metadata() or {})
            keys = set(f.keys())
            missing = [k for k in _TENSOR_NAMES if k not in keys]
            if missing:
                raise PolicyError(f"policy file {path}: missing tensor {missing[0]}"
                                  + (f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""))
            extra = sorted(keys - set(_TENSOR_NAMES))
            if extra:
                raise PolicyError(f"policy file {path}: unexpected tensor {extra[0]} "
                                  f"(a trac-policy/1 file holds exactly {', '.join(_TENSOR_NAMES)})")
            tensors = {k: f.get_tensor(k) for k in _TENSOR_NAMES}
    except PolicyError:
        raise
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise PolicyError(f"policy file {path}: not a readable safetensors file: {exc}") from None

    fmt = metadata.get("format")
    if fmt is None:
        raise PolicyError(f"policy file {path}: metadata has no 'format' (expected {POLICY_FORMAT!r})")
    if fmt != POLICY_FORMAT:
        raise PolicyError(f"policy file {path}: metadata format is {fmt!r}, expected {POLICY_FORMAT!r}")
    for key, expected in (("hidden_activation", "relu"), ("output_activation", "tanh")):
        if key in metadata and metadata[key] != expected:
            raise PolicyError(f"policy file {path}: metadata {key} is {metadata[key]!r}, "
                              f"only {expected!r} is supported")

    for name, t in tensors.items():
        if t.dtype != np.float32:
            raise PolicyError(f"policy file {path}: tensor {name} has dtype {t.dtype}, expected float32")

    def shape_of(name: str) -> list[int]:
        return list(tensors[name].shape)

    w0 = shape_of("layers.0.weight")
    if len(w0) != 2 or w0[0] != HIDDEN or w0[1] < 1:
        raise PolicyError(f"policy file {path}: tensor layers.0.weight has shape {w0}, "
                          f"expected [{HIDDEN}, obs_dim]")
    w2 = shape_of("layers.2.weight")
    if len(w2) != 2 or w2[1] != HIDDEN or w2[0] < 1:
        raise PolicyError(f"policy file {path}: tensor layers.2.weight has shape {w2}, "
                          f"expected [act_dim, {HIDDEN}]")
    obs_dim, act_dim = w0[1], w2[0]
    expected_shapes = {
        "layers.0.bias": [HIDDEN],
        "layers.1.weight": [HIDDEN, HIDDEN],
        "layers.1.bias": [HIDDEN],
        "layers.2.bias": [act_dim],
    }
    for name, want in expected_shapes.items():
        if shape_of(name) != want:
            raise PolicyError(f"policy file {path}: tensor {name} has shape {shape_of(name)}, expected {want}")

    for name in _TENSOR_NAMES:
        t = tensors[name]
        if not np.all(np.isfinite(t)):
            bad = int(np.size(t) - np.count_nonzero(np.isfinite(t)))
            raise PolicyError(f"policy file {path}: tensor {name} has {bad} non-finite value(s)")

    for key, actual in (("obs_dim", obs_dim), ("act_dim", act_dim)):
        if key in metadata:
            try:
                declared = int(metadata[key])
            except ValueError:
                raise PolicyError(f"policy file {path}: metadata {key} is {metadata[key]!r}, not an integer") from None
            if declared != actual:
                raise PolicyError(f"policy file {path}: metadata {key} is {declared} but the tensors give {actual}")

    if task is not None:
        if obs_dim != task.obs_dim:
            raise PolicyError(f"policy file {path}: tensor layers.0.weight has shape {w0}, but task "
                              f"{task.simulator_id} has obs_dim {task.obs_dim} (expected [{HIDDEN}, {task.obs_dim}])")
        if act_dim != task.act_dim:
            raise PolicyError(f"policy file {path}: tensor layers.2.weight has shape {w2}, but task "
                              f"{task.simulator_id} has act_dim {task.act_dim} (expected [{task.act_dim}, {HIDDEN}])")
        declared_task = metadata.get("task")
        if declared_task:
            try:
                other = resolve_task(declared_task)
            except UnknownTaskError:
                other = None  # a name we do not know: the dimensions were checked above
            if other is not None and other.simulator_id != task.simulator_id:
                raise PolicyError(f"policy file {path}: trained for task {declared_task} "
                                  f"but asked to evaluate on {task.dsrl_id} / {task.simulator_id}")

    weights = tuple(np.ascontiguousarray(tensors[k], dtype=np.float32) for k in _TENSOR_NAMES)
    return Policy(path=str(path), weights=weights, metadata=metadata)


# ----------------------------------------------------------------------------
# Normalization (DSRL protocol)
# ----------------------------------------------------------------------------


def normalized_cost(cost_return: float, cost_threshold: float) -> float:
    """(C_ep + eps) / (C + eps) with eps = 1 if C == 0 else 0 (DSRL)."""
    eps = 1.0 if cost_threshold == 0 else 0.0
    return (float(cost_return) + eps) / (float(cost_threshold) + eps)


def normalized_reward(reward_return: float, r_max: float, r_min: float) -> float:
    return (float(reward_return) - r_min) / (r_max - r_min)


def mean_std(values) -> dict[str, float]:
    """Mean and population standard deviation (numpy's default, ddof=0)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {"mean": float("nan"), "std": float("nan")}
    return {"mean": float(arr.mean()), "std": float(arr.std())}


def summarize(task: TaskSpec, reward_returns, cost_returns, cost_thresholds) -> list[dict[str, Any]]:
    """Per-threshold normalized reward and cost, per episode and as mean/std."""
    nr = [normalized_reward(r, task.r_max, task.r_min) for r in reward_returns]
    out = []
    for c in cost_thresholds:
        nc = [normalized_cost(x, c) for x in cost_returns]
        nc_stats = mean_std(nc)
        out.append({
            "cost_threshold": c,
            "normalized_reward": {**mean_std(nr), "per_episode": nr},
            "normalized_cost": {**nc_stats, "per_episode": nc},
            "safe": bool(nc_stats["mean"] <= 1.0),
        })
    return out


# ----------------------------------------------------------------------------
# Simulator
# ----------------------------------------------------------------------------


class EnvCache:
    """One simulator per task, created on first use and kept; at most MAX_CACHED of them (a
    Safety-Gymnasium world holds about 100 MB), the least recently used closed first. Which
    ones are kept never changes a result: a cached environment gives a fresh one's numbers.
    (A MetaDrive task's entry holds a simulator only while it runs an episode: MetaDrive
    allows one per process, see MetaDriveEpisodes.)"""

    MAX_CACHED = 4

    def __init__(self) -> None:
        self._envs: dict[str, Any] = {}

    def get(self, task: TaskSpec):
        env = self._envs.pop(task.simulator_id, None)
        if env is None:
            env = make_env(task)
        self._envs[task.simulator_id] = env  # now the most recently used
        while len(self._envs) > self.MAX_CACHED:
            oldest = next(iter(self._envs))
            try:
                self._envs.pop(oldest).close()
            except Exception:
                pass
        return env

    def drop(self, task: TaskSpec) -> None:
        env = self._envs.pop(task.simulator_id, None)
        if env is not None:
            try:
                env.close()
            except Exception:
                pass

    def close(self) -> None:
        for name in list(self._envs):
            env = self._envs.pop(name)
            try:
                env.close()
            except Exception:
                pass


def _import_simulator(task: TaskSpec) -> None:
    """Import the package that registers the task's simulator ids with gymnasium."""
    import warnings

    here = f"this Python ({sys.executable}, {sys.version.split()[0]})"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task.family == METADRIVE:
            try:
                _import_metadrive()
            except ImportError as exc:
                raise SimulatorMissingError(
                    f"{task.dsrl_id} is a MetaDrive task, and {here} cannot import MetaDrive and DSRL's task "
                    f"definitions ({exc}): run it with .venv-metadrive/bin/python (Python 3.9; "
                    f"scripts/setup.sh --simulators builds it when a Python 3.9 interpreter exists)") from None
        elif task.family == SAFETY_GYMNASIUM:
            try:
                import safety_gymnasium  # noqa: F401  (registers the Safety*Gymnasium-v0/v1 ids)
            except ImportError as exc:
                raise SimulatorMissingError(
                    f"{task.dsrl_id} is a Safety-Gymnasium task, and {here} cannot import safety_gymnasium "
                    f"({exc}): run it with .venv-safety-gymnasium/bin/python (Python 3.10; scripts/setup.sh "
                    f"builds it when a Python 3.10 interpreter exists)") from None
        else:
            try:
                import bullet_safety_gym  # noqa: F401  (registers the Safety*-v0 ids)
            except ImportError as exc:
                raise SimulatorMissingError(
                    f"{task.dsrl_id} is a Bullet-Safety-Gym task, and {here} cannot import bullet_safety_gym "
                    f"({exc}): run it with .venv/bin/python (scripts/setup.sh builds it)") from None


def _import_metadrive():
    """Import DSRL's MetaDrive task definitions (dsrl.offline_metadrive.gym_envs) and return them.

    metadrive 0.2.6.0's __init__ imports metadrive.register, which registers its own ids with
    the gym registry API of gym 0.19 (registry.env_specs) and fails under gym 0.26 (DSRL's fork
    comments that code out): an empty module stands in for it. The dsrl package imports its
    Bullet and Safety-Gymnasium tasks too, which this venv lacks: DSRL_SUPPRESS_IMPORT_ERROR
    keeps it from printing about them."""
    import types
    import warnings

    os.environ.setdefault("DSRL_SUPPRESS_IMPORT_ERROR", "1")
    sys.modules.setdefault("metadrive.register", types.ModuleType("metadrive.register"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from dsrl.offline_metadrive import gym_envs
    return gym_envs


class MetaDriveEpisodes:
    """One of DSRL's MetaDrive tasks, with a fresh simulator for every episode.

    reset(seed=s) closes the simulator of the episode before, builds the task's DSRL
    environment (dsrl.offline_metadrive.gym_envs, e.g. MediumMeanEnv), seeds its traffic
    generator with s and resets it to the task's one map (DSRL's start seed). MetaDrive
    seeds the traffic generator from os.urandom and skips it when reseeding with random
    traffic, and a reused simulator's physics carries state between episodes (measured:
    returns differ in the 8th digit), so only a fresh simulator makes an episode a function
    of its seed. MetaDrive allows one simulator per process: building one closes any other
    MetaDriveEpisodes' simulator first."""

    _owner: "MetaDriveEpisodes | None" = None  # whose simulator is open

    def __init__(self, task: TaskSpec):
        gym_envs = _import_metadrive()
        road = next(r for r in ("easy", "medium", "hard") if task.name.startswith(r))
        self._cls = getattr(gym_envs, f"{road.capitalize()}{task.name[len(road):].capitalize()}Env")
        self._env = None
        probe = self._cls()  # building the environment object does not start the simulator
        self.start_seed = int(probe.config["start_seed"])
        self.observation_space = probe.observation_space
        self.action_space = probe.action_space

    @property
    def unwrapped(self):
        return self

    @property
    def simulator(self):
        """The episode's DSRL environment (None before the first reset): make_dataset.py's
        behaviours read the ego vehicle and its navigation from it."""
        return self._env

    def _close_simulator(self) -> None:
        if self._env is not None:
            env, self._env = self._env, None
            if MetaDriveEpisodes._owner is self:
                MetaDriveEpisodes._owner = None
                env.close()

    def reset(self, seed: int):
        from metadrive.utils.random_utils import get_np_random

        self._close_simulator()
        if MetaDriveEpisodes._owner is not None:
            MetaDriveEpisodes._owner._close_simulator()
        env = self._cls()
        MetaDriveEpisodes._owner = self
        self._env = env
        env.lazy_init()  # the simulator and its managers, before the reset that places the traffic
        traffic = env.engine.traffic_manager
        traffic.random_seed = seed
        traffic.np_random = get_np_random(seed)
        return env.reset(seed=self.start_seed)

    def step(self, action):
        return self._env.step(action)

    def close(self) -> None:
        self._close_simulator()


def make_env(task: TaskSpec):
    """Create the task's environment (with gymnasium's TimeLimit; a MetaDrive task: MetaDriveEpisodes,
    whose episodes the rollout cuts at the task's 1,000 steps, as DSRL's TimeLimit does)."""
    _import_simulator(task)
    if task.family == METADRIVE:
        env = MetaDriveEpisodes(task)
        _check_spaces(task, env)
        return env
    import gymnasium as gym

    env = gym.make(task.simulator_id, disable_env_checker=True)
    _check_spaces(task, env)
    # A first reset makes a Bullet environment save its physics state, which
    # canonicalize() restores before every episode; a Safety-Gymnasium world's first reset
    # builds it differently from later ones (a new World, not a rebuild), so every episode
    # then starts from a later reset, fresh environment or cached.
    np.random.seed(0)
    env.reset(seed=0)
    return env


def _check_spaces(task: TaskSpec, env) -> None:
    if env.observation_space.shape != (task.obs_dim,) or env.action_space.shape != (task.act_dim,):
        raise RuntimeError(f"{task.simulator_id}: simulator has observation {env.observation_space.shape} and "
                           f"action {env.action_space.shape}, expected ({task.obs_dim},) and ({task.act_dim},)")


def canonicalize(env) -> None:
    """Put a Bullet-Safety-Gym simulator into the same state before every reset.

    Bullet-Safety-Gym's reset restores a saved physics state, but joint motor
    targets (Car, Ant) and thrust forces (Drone) set by the previous episode's
    last action survive it and act during reset's simulation step, so without
    this an episode would depend on what ran before it.
    """
    u = env.unwrapped
    if not hasattr(u, "bc"):  # Safety-Gymnasium: reset(seed) alone decides the episode
        return
    if getattr(u, "stored_state_id", -1) >= 0:
        u.bc.restoreState(u.stored_state_id)
    agent = u.agent
    agent.apply_action(np.zeros(agent.act_dim))


def start_episode(env, seed: int):
    """Seeded, history-independent reset. Returns the first observation."""
    canonicalize(env)
    np.random.seed(seed)
    obs, _info = env.reset(seed=seed)
    return obs


def rollout(env, policy: Policy, task: TaskSpec, episodes: int, seed: int) -> dict[str, list]:
    rewards, costs, lengths = [], [], []
    for i in range(episodes):
        obs = start_episode(env, seed + i)
        ret = 0.0
        cost = 0.0
        n = 0
        while True:
            action = policy.act_one(obs)
            obs, r, terminated, truncated, info = env.step(action)
            ret += float(r)
            cost += float(info.get("cost", 0.0))
            n += 1
            if terminated or truncated or n >= task.max_episode_steps:
                break
        if not (math.isfinite(ret) and math.isfinite(cost)):
            raise RuntimeError(f"episode {i} (seed {seed + i}) produced a non-finite return "
                               f"(reward {ret}, cost {cost})")
        rewards.append(ret)
        costs.append(cost)
        lengths.append(n)
    return {"reward_returns": rewards, "cost_returns": costs, "episode_lengths": lengths}


def evaluate(envs: EnvCache, policy_path: str, task_name: str, cost_thresholds: list,
             episodes: int, seed: int) -> dict[str, Any]:
    started = time.monotonic()
    task = resolve_task(task_name)
    policy = load_policy(policy_path, task)
    env = envs.get(task)
    try:
        res = rollout(env, policy, task, episodes, seed)
    except Exception:
        envs.drop(task)  # do not reuse a simulator that failed mid-episode
        raise
    return {
        "task": task.simulator_id,
        "dsrl_task": task.dsrl_id,
        "episodes": episodes,
        "seed": seed,
        **res,
        "reward_return": mean_std(res["reward_returns"]),
        "cost_return": mean_std(res["cost_returns"]),
        "by_threshold": summarize(task, res["reward_returns"], res["cost_returns"], cost_thresholds),
        "wall_seconds": round(time.monotonic() - started, 6),
    }


def versions() -> dict[str, str]:
    from importlib import metadata

    def v(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "bullet_safety_gym": v("bullet-safety-gym"),
        "gymnasium": v("gymnasium"),
        "pybullet": v("pybullet"),
        "safety_gymnasium": v("safety-gymnasium"),
        "mujoco": v("mujoco"),
        "metadrive_simulator": v("metadrive-simulator"),
        "dsrl": v("dsrl"),
        "panda3d": v("panda3d"),
        "safetensors": v("safetensors"),
    }


# ----------------------------------------------------------------------------
# Request validation
# ----------------------------------------------------------------------------


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return (isinstance(x, (int, float)) and not isinstance(x, bool)) and math.isfinite(x)


def check_thresholds(values, where: str = "cost_thresholds") -> list:
    if not isinstance(values, list) or not values:
        raise InputError(f"{where} must be a non-empty list of numbers >= 0")
    for i, c in enumerate(values):
        if not _is_number(c) or c < 0:
            raise InputError(f"{where}[{i}] is {json.dumps(c)}: a cost threshold must be a finite number >= 0")
    return list(values)


def check_episodes_seed(episodes, seed) -> None:
    if not _is_int(episodes) or not (1 <= episodes <= MAX_EPISODES):
        raise InputError(f"episodes must be an integer in [1, {MAX_EPISODES}], got {json.dumps(episodes)}")
    if not _is_int(seed) or seed < 0:
        raise InputError(f"seed must be an integer >= 0, got {json.dumps(seed)}")
    if seed + episodes - 1 >= 2**32:
        raise InputError(f"seed + episodes - 1 must be < 2**32 (numpy seeds), got {seed + episodes - 1}")


_OPS: dict[str, tuple[set[str], set[str]]] = {
    # op: (required fields, optional fields) besides "id" and "op"
    "evaluate": ({"policy", "task", "cost_thresholds"}, {"episodes", "seed"}),
    "actions": ({"policy", "observations"}, {"task"}),
    "ping": (set(), set()),
}


def handle_request(envs: EnvCache, req: Any) -> dict[str, Any]:
    """Answer one parsed request (without the id)."""
    if not isinstance(req, dict):
        raise InputError(f"a request must be a JSON object, got {type(req).__name__}")
    op = req.get("op")
    if op is None:
        raise InputError("missing field 'op' (one of: " + ", ".join(_OPS) + ")")
    if not isinstance(op, str) or op not in _OPS:
        raise InputError(f"unknown op {json.dumps(op)} (expected one of: " + ", ".join(_OPS) + ")")
    required, optional = _OPS[op]
    missing = sorted(required - req.keys())
    if missing:
        raise InputError(f"op {op!r}: missing field {missing[0]!r}"
                         + (f" (also: {', '.join(missing[1:])})" if len(missing) > 1 else ""))
    unknown = sorted(req.keys() - required - optional - {"id", "op"})
    if unknown:
        raise InputError(f"op {op!r}: unknown field {unknown[0]!r} (allowed: "
                         + ", ".join(sorted(required | optional | {"id", "op"})) + ")")

    if op == "ping":
        return {"versions": versions()}

    policy_path = req["policy"]
    if not isinstance(policy_path, str) or not policy_path:
        raise InputError("field 'policy' must be a non-empty string (a path to a policy file)")

    if op == "evaluate":
        task_name = req["task"]
        if not isinstance(task_name, str):
            raise InputError("field 'task' must be a string")
        thresholds = check_thresholds(req["cost_thresholds"])
        episodes = req.get("episodes", 20)
        seed = req.get("seed", 0)
        check_episodes_seed(episodes, seed)
        return evaluate(envs, policy_path, task_name, thresholds, episodes, seed)

    # op == "actions"
    task = None
    if "task" in req:
        if not isinstance(req["task"], str):
            raise InputError("field 'task' must be a string")
        task = resolve_task(req["task"])
    policy = load_policy(policy_path, task)
    rows = req["observations"]
    if not isinstance(rows, list):
        raise InputError("field 'observations' must be a list of observation vectors")
    actions = []
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != policy.obs_dim:
            got = f"length {len(row)}" if isinstance(row, list) else type(row).__name__
            raise InputError(f"observations[{i}] must be a list of {policy.obs_dim} numbers "
                             f"(the policy's obs_dim), got {got}")
        for j, x in enumerate(row):
            if not _is_number(x):
                raise InputError(f"observations[{i}][{j}] is {json.dumps(x)}: not a finite number")
        a = policy.act_one(np.asarray(row, dtype=np.float64).astype(np.float32))
        actions.append([float(x) for x in a])
    return {"actions": actions}


# ----------------------------------------------------------------------------
# Process plumbing
# ----------------------------------------------------------------------------


def claim_stdout():
    """Keep the real stdout for protocol output; point fd 1 (C and Python) at stderr."""
    sys.stdout.flush()
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(proto_fd, "w", encoding="utf-8", newline="\n")


def _reject_constant(name: str):
    raise InputError(f"request is not valid JSON: {name} is not a JSON number")


def _json_line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, allow_nan=False) + "\n"


def _error_message(exc: BaseException) -> str:
    if isinstance(exc, (InputError, UnknownTaskError, SimulatorMissingError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def serve(proto) -> int:
    envs = EnvCache()
    stdin = sys.stdin.buffer
    try:
        while True:
            raw = stdin.readline()
            if not raw:
                return 0
            if not raw.strip():
                continue  # blank lines are not requests
            req_id = None
            try:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InputError(f"request is not UTF-8: {exc}") from None
                try:
                    req = json.loads(text, parse_constant=_reject_constant)
                except json.JSONDecodeError as exc:
                    raise InputError(f"request is not valid JSON: {exc}") from None
                if isinstance(req, dict):
                    req_id = req.get("id")
                result = handle_request(envs, req)
                line = _json_line({"id": req_id, "ok": True, **result})
            except Exception as exc:  # answer and keep serving
                if not isinstance(exc, (InputError, UnknownTaskError, SimulatorMissingError)):
                    traceback.print_exc(file=sys.stderr)
                try:
                    line = _json_line({"id": req_id, "ok": False, "error": _error_message(exc)})
                except ValueError:  # an id that cannot be echoed (cannot happen for parsed JSON)
                    line = _json_line({"id": None, "ok": False, "error": _error_message(exc)})
            proto.write(line)
            proto.flush()
    finally:
        envs.close()


def _number(text: str):
    """A cost threshold from the command line: kept an int when it is one."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evaluator.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="evaluate one policy file and print one JSON object")
    ev.add_argument("policy", help="path to policy.safetensors")
    ev.add_argument("--task", required=True,
                    help="DSRL id (OfflineBallCircle-v0) or simulator id (SafetyBallCircle-v0)")
    ev.add_argument("--cost-threshold", dest="cost_thresholds", type=_number, nargs="+", required=True,
                    metavar="C", help="one or more cost thresholds")
    ev.add_argument("--episodes", type=int, default=20)
    ev.add_argument("--seed", type=int, default=0)
    sub.add_parser("serve", help="answer JSON-line requests on stdin/stdout")
    sub.add_parser("ping", help="print the versions as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    proto = claim_stdout()
    if args.command == "serve":
        return serve(proto)
    if args.command == "ping":
        proto.write(_json_line({"ok": True, "versions": versions()}))
        proto.flush()
        return 0
    envs = EnvCache()
    try:
        thresholds = check_thresholds(args.cost_thresholds, "--cost-threshold")
        check_episodes_seed(args.episodes, args.seed)
        result = evaluate(envs, args.policy, args.task, thresholds, args.episodes, args.seed)
        line = _json_line({"ok": True, **result})
    except (InputError, UnknownTaskError) as exc:
        print(f"evaluator.py: error: {exc}", file=sys.stderr)
        return 2
    except SimulatorMissingError as exc:
        print(f"evaluator.py: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        print(f"evaluator.py: error: {_error_message(exc)}", file=sys.stderr)
        return 1
    finally:
        envs.close()
    proto.write(line)
    proto.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
