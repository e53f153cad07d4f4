"""The eight Bullet-Safety-Gym tasks that trac-sweep can evaluate and generate data for.

Each task is known by two names: its DSRL id (``OfflineBallCircle-v0``, the name
the offline dataset and the grid files use) and its Bullet-Safety-Gym id
(``SafetyBallCircle-v0``, the name of the simulator environment). ``r_max`` and
``r_min`` are DSRL's fixed normalization constants (``dsrl/infos.py``), restated
in docs/ALGORITHM.md section 9; they are never recomputed from a dataset.

This module has no third-party imports so it can be used anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TaskSpec", "TASKS", "resolve_task", "supported_ids", "UnknownTaskError"]


@dataclass(frozen=True)
class TaskSpec:
    name: str  # short name, e.g. "BallCircle"
    dsrl_id: str  # e.g. "OfflineBallCircle-v0"
    bullet_id: str  # e.g. "SafetyBallCircle-v0"
    agent: str  # Ball, Car, Ant, Drone
    kind: str  # "circle" or "run"
    obs_dim: int
    act_dim: int
    max_episode_steps: int
    r_max: float
    r_min: float

    def normalized_reward(self, reward_return: float) -> float:
        return (reward_return - self.r_min) / (self.r_max - self.r_min)


def _spec(name, agent, kind, obs_dim, act_dim, steps, r_max, r_min) -> TaskSpec:
    return TaskSpec(
        name=name,
        dsrl_id=f"Offline{name}-v0",
        bullet_id=f"Safety{name}-v0",
        agent=agent,
        kind=kind,
        obs_dim=obs_dim,
        act_dim=act_dim,
        max_episode_steps=steps,
        r_max=r_max,
        r_min=r_min,
    )


# Constants exactly as docs/ALGORITHM.md section 9 (DSRL's dsrl/infos.py).
TASKS: tuple[TaskSpec, ...] = (
    _spec("AntCircle", "Ant", "circle", 34, 8, 500, 460.7091979980469, 0.0177031010389328),
    _spec("AntRun", "Ant", "run", 33, 8, 200, 955.4818725585938, 0.001767391717990563),
    _spec("BallCircle", "Ball", "circle", 8, 2, 200, 881.46337890625, 0.38312244415283203),
    _spec("BallRun", "Ball", "run", 7, 2, 100, 1327.445556640625, 26.339754104614258),
    _spec("CarCircle", "Car", "circle", 8, 2, 300, 534.3060913085938, 3.484419822692871),
    _spec("CarRun", "Car", "run", 7, 2, 200, 574.6533203125, 204.28726196289062),
    _spec("DroneCircle", "Drone", "circle", 18, 4, 300, 996.38916015625, 207.794189453125),
    _spec("DroneRun", "Drone", "run", 17, 4, 200, 682.8330078125, 10.557029724121094),
)

_BY_ID: dict[str, TaskSpec] = {}
for _t in TASKS:
    _BY_ID[_t.dsrl_id] = _t
    _BY_ID[_t.bullet_id] = _t


class UnknownTaskError(ValueError):
    """Raised for a task id that trac-sweep cannot evaluate."""


def supported_ids() -> list[str]:
    """All accepted ids: the DSRL ids, then the Bullet-Safety-Gym ids."""
    return [t.dsrl_id for t in TASKS] + [t.bullet_id for t in TASKS]


def resolve_task(name: str) -> TaskSpec:
    """Return the task for a DSRL id or a Bullet-Safety-Gym id (case-sensitive).

    Raises UnknownTaskError (a ValueError) naming every supported id otherwise.
    """
    if not isinstance(name, str):
        raise UnknownTaskError(f"task must be a string, got {type(name).__name__}")
    spec = _BY_ID.get(name)
    if spec is not None:
        return spec
    supported = ", ".join(supported_ids())
    if "Gymnasium" in name:
        raise UnknownTaskError(
            f"unsupported task {name!r}: SafetyGymnasium tasks are not supported by this "
            f"evaluator (safety-gymnasium needs Python 3.10; this environment runs "
            f"Bullet-Safety-Gym on Python 3.11). Supported tasks: {supported}")
    if "metadrive" in name.lower():
        raise UnknownTaskError(
            f"unsupported task {name!r}: MetaDrive tasks are not supported by this "
            f"evaluator (only Bullet-Safety-Gym). Supported tasks: {supported}")
    hint = ""
    lowered = {k.lower(): k for k in _BY_ID}
    if name.lower() in lowered:
        hint = f" (task ids are case-sensitive: did you mean {lowered[name.lower()]!r}?)"
    raise UnknownTaskError(f"unknown task {name!r}{hint}. Supported tasks: {supported}")
