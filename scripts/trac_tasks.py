"""The tasks trac-sweep can evaluate and generate data for: DSRL's eight
Bullet-Safety-Gym tasks, its 21 Safety-Gymnasium tasks and its nine MetaDrive tasks.

Each task is known by two names: its DSRL id (``OfflineBallCircle-v0``,
``OfflineCarButton1Gymnasium-v0``, ``OfflineMetadrive-mediummean-v0``: the name the
offline dataset and the grid files use) and its simulator id (``SafetyBallCircle-v0``,
``SafetyCarButton1Gymnasium-v0``, ``SafeMetaDrive-mediummean-v0``: the prefix of DSRL's
dataset file).
``r_max`` and ``r_min`` are DSRL's fixed normalization constants (``dsrl/infos.py``
of DSRL); they are never recomputed from a dataset.

This table mirrors the Swift one (Sources/TracCore/Tasks/TaskInfo.swift), which
is the source of truth: the Swift test TaskTableTests checks that both equal DSRL's
values in scripts/tests/fixtures/dsrl_tasks.json and that
``python3 scripts/trac_tasks.py --json`` prints the Swift table.

This module has no third-party imports so it can be used anywhere (Python 3.9+: the MetaDrive
evaluator runs on 3.9).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass

__all__ = ["TaskSpec", "TASKS", "resolve_task", "supported_ids", "UnknownTaskError",
           "BULLET_GYM", "SAFETY_GYMNASIUM", "METADRIVE"]

BULLET_GYM = "bullet_gym"
SAFETY_GYMNASIUM = "safety_gymnasium"
METADRIVE = "metadrive"


@dataclass(frozen=True)
class TaskSpec:
    name: str  # short name, e.g. "BallCircle", "CarButton1", "AntVelocity"
    dsrl_id: str  # e.g. "OfflineBallCircle-v0", "OfflineCarButton1Gymnasium-v0"
    simulator_id: str  # e.g. "SafetyBallCircle-v0", "SafetyCarButton1Gymnasium-v0"
    family: str  # BULLET_GYM, SAFETY_GYMNASIUM or METADRIVE
    agent: str  # Ball, Car, Ant, Drone; Car, Point; Ant, HalfCheetah, Hopper, Swimmer, Walker2d; Vehicle
    kind: str  # "circle" or "run" (Bullet); "button", "circle", "goal", "push", "velocity"; "drive"
    obs_dim: int
    act_dim: int
    max_episode_steps: int
    r_max: float
    r_min: float

    @property
    def bullet_id(self) -> str:  # the name before Safety-Gymnasium tasks existed
        return self.simulator_id

    def normalized_reward(self, reward_return: float) -> float:
        return (reward_return - self.r_min) / (self.r_max - self.r_min)


def _bullet(name, agent, kind, obs_dim, act_dim, steps, r_max, r_min) -> TaskSpec:
    return TaskSpec(name=name, dsrl_id=f"Offline{name}-v0", simulator_id=f"Safety{name}-v0",
                    family=BULLET_GYM, agent=agent, kind=kind, obs_dim=obs_dim, act_dim=act_dim,
                    max_episode_steps=steps, r_max=r_max, r_min=r_min)


def _gymnasium(name, agent, kind, obs_dim, act_dim, steps, r_max, r_min, version=0) -> TaskSpec:
    return TaskSpec(name=name, dsrl_id=f"Offline{name}Gymnasium-v{version}",
                    simulator_id=f"Safety{name}Gymnasium-v{version}", family=SAFETY_GYMNASIUM,
                    agent=agent, kind=kind, obs_dim=obs_dim, act_dim=act_dim, max_episode_steps=steps,
                    r_max=r_max, r_min=r_min)


def _metadrive(road, traffic, r_max, r_min) -> TaskSpec:
    # DSRL registers OfflineMetadrive-<road><traffic>-v0; its dataset files are SafeMetaDrive-<...>-v0-*.hdf5.
    name = f"{road}{traffic}"
    return TaskSpec(name=name, dsrl_id=f"OfflineMetadrive-{name}-v0", simulator_id=f"SafeMetaDrive-{name}-v0",
                    family=METADRIVE, agent="Vehicle", kind="drive", obs_dim=259, act_dim=2,
                    max_episode_steps=1000, r_max=r_max, r_min=r_min)


# DSRL's dsrl/infos.py (DEFAULT_MAX_EPISODE_STEPS, MAX_EPISODE_REWARD, MIN_EPISODE_REWARD);
# widths as the simulators DSRL pins give them (bullet-safety-gym 1.4.0, safety-gymnasium 0.4.0,
# metadrive-simulator 0.2.6.0).
TASKS: tuple[TaskSpec, ...] = (
    _bullet("AntCircle", "Ant", "circle", 34, 8, 500, 460.7091979980469, 0.0177031010389328),
    _bullet("AntRun", "Ant", "run", 33, 8, 200, 955.4818725585938, 0.001767391717990563),
    _bullet("BallCircle", "Ball", "circle", 8, 2, 200, 881.46337890625, 0.38312244415283203),
    _bullet("BallRun", "Ball", "run", 7, 2, 100, 1327.445556640625, 26.339754104614258),
    _bullet("CarCircle", "Car", "circle", 8, 2, 300, 534.3060913085938, 3.484419822692871),
    _bullet("CarRun", "Car", "run", 7, 2, 200, 574.6533203125, 204.28726196289062),
    _bullet("DroneCircle", "Drone", "circle", 18, 4, 300, 996.38916015625, 207.794189453125),
    _bullet("DroneRun", "Drone", "run", 17, 4, 200, 682.8330078125, 10.557029724121094),
    _gymnasium("CarButton1", "Car", "button", 88, 2, 1000, 44.420003345738984, 0.0028926206826067613),
    _gymnasium("CarButton2", "Car", "button", 88, 2, 1000, 41.99513815522894, 0.001767391717990563),
    _gymnasium("CarCircle1", "Car", "circle", 40, 2, 500, 24.94155502319336, 8.037073135375977),
    _gymnasium("CarCircle2", "Car", "circle", 40, 2, 500, 25.950098037719727, 5.113386154174805),
    _gymnasium("CarGoal1", "Car", "goal", 72, 2, 1000, 39.907809198384705, 0.012232819540852091),
    _gymnasium("CarGoal2", "Car", "goal", 72, 2, 1000, 28.902897990056502, 0.001032874531954775),
    _gymnasium("CarPush1", "Car", "push", 88, 2, 1000, 16.304467598905237, 0.013700173533941762),
    _gymnasium("CarPush2", "Car", "push", 88, 2, 1000, 15.141648491514314, 0.00029391133526335267),
    _gymnasium("PointButton1", "Point", "button", 76, 2, 1000, 41.19301568767707, 0.008822109034937853),
    _gymnasium("PointButton2", "Point", "button", 76, 2, 1000, 42.8985953616709, 0.014114166087574098),
    _gymnasium("PointCircle1", "Point", "circle", 28, 2, 500, 61.72819519042969, 20.067626953125),
    _gymnasium("PointCircle2", "Point", "circle", 28, 2, 500, 54.02184295654297, 20.478347778320312),
    _gymnasium("PointGoal1", "Point", "goal", 60, 2, 1000, 30.071114857340543, 0.01196012764197707),
    _gymnasium("PointGoal2", "Point", "goal", 60, 2, 1000, 27.717709787852737, 0.002616959830266108),
    _gymnasium("PointPush1", "Point", "push", 76, 2, 1000, 16.518654299293367, 0.0014001545292344209),
    _gymnasium("PointPush2", "Point", "push", 76, 2, 1000, 14.691039145644403, 0.0012438183001730607),
    _gymnasium("AntVelocity", "Ant", "velocity", 27, 8, 1000, 2976.276611328125, 6.1519012451171875, 1),
    _gymnasium("HalfCheetahVelocity", "HalfCheetah", "velocity", 17, 6, 1000, 2806.93310546875,
               5.7509765625, 1),
    _gymnasium("HopperVelocity", "Hopper", "velocity", 11, 3, 1000, 1911.396728515625, 37.05154800415039, 1),
    _gymnasium("SwimmerVelocity", "Swimmer", "velocity", 8, 2, 1000, 238.95831298828125,
               0.07114458084106445, 1),
    _gymnasium("Walker2dVelocity", "Walker2d", "velocity", 17, 6, 1000, 3418.223876953125,
               18.668498992919922, 1),
    _metadrive("easy", "sparse", 425.8006286621094, 20.094310760498047),
    _metadrive("easy", "mean", 425.82440185546875, 22.142553329467773),
    _metadrive("easy", "dense", 425.81732177734375, 19.71139144897461),
    _metadrive("medium", "sparse", 269.80084228515625, 17.446578979492188),
    _metadrive("medium", "mean", 269.8221435546875, 17.032529830932617),
    _metadrive("medium", "dense", 269.7813415527344, 15.102348327636719),
    _metadrive("hard", "sparse", 486.80523681640625, 17.247974395751953),
    _metadrive("hard", "mean", 486.9967956542969, 19.387981414794922),
    _metadrive("hard", "dense", 486.63616943359375, 15.386894226074219),
)

_BY_ID: dict[str, TaskSpec] = {}
for _t in TASKS:
    _BY_ID[_t.dsrl_id] = _t
    _BY_ID[_t.simulator_id] = _t


class UnknownTaskError(ValueError):
    """Raised for a task id that trac-sweep cannot evaluate."""


def supported_ids() -> list[str]:
    """All accepted ids: the DSRL ids, then the simulator ids."""
    return [t.dsrl_id for t in TASKS] + [t.simulator_id for t in TASKS]


def resolve_task(name: str) -> TaskSpec:
    """Return the task for a DSRL id or a simulator id (case-sensitive).

    Raises UnknownTaskError (a ValueError) naming every supported id otherwise.
    """
    if not isinstance(name, str):
        raise UnknownTaskError(f"task must be a string, got {type(name).__name__}")
    spec = _BY_ID.get(name)
    if spec is not None:
        return spec
    supported = ", ".join(supported_ids())
    hint = ""
    lowered = {k.lower(): k for k in _BY_ID}
    if name.lower() in lowered:
        hint = f" (task ids are case-sensitive: did you mean {lowered[name.lower()]!r}?)"
    raise UnknownTaskError(f"unknown task {name!r}{hint}. Supported tasks: {supported}")


def main(argv: list[str] | None = None) -> int:
    """``trac_tasks.py --json``: the table as JSON (what the Swift table test compares); r_max and
    r_min are strings, the shortest literals that give the exact doubles."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["--json"]:
        print("usage: trac_tasks.py --json", file=sys.stderr)
        return 2
    # r_max and r_min as their exact literals (repr), so a reader needs no exact float parser.
    rows = [{**asdict(t), "r_max": repr(t.r_max), "r_min": repr(t.r_min)} for t in TASKS]
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
