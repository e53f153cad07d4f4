#!/usr/bin/env python3
"""Generate an offline safe-RL dataset in DSRL's HDF5 layout from real
simulator rollouts of scripted behaviour policies.

  make_dataset.py TASK --episodes N --seed S --out FILE [--workers K] [--max-steps T]

TASK is a DSRL id (OfflineBallCircle-v0) or a simulator id (SafetyBallCircle-v0).
Supported: BallCircle, BallRun, CarCircle, CarRun (Bullet-Safety-Gym, run with
.venv/bin/python), and the Safety-Gymnasium navigation tasks PointGoal1/2,
CarGoal1/2, PointCircle1/2, CarCircle1/2 (OfflinePointGoal1Gymnasium-v0, ...; run
with .venv-safety-gymnasium/bin/python), and DSRL's nine MetaDrive tasks
(OfflineMetadrive-mediummean-v0, ...; run with .venv-metadrive/bin/python).
--max-steps T cuts every episode at T steps (a timeout) instead of the task's length:
for tests and quick looks, not for DSRL-like data.

Layout (docs/FORMATS.md): datasets observations, next_observations,
actions, rewards, costs (float32), terminals, timeouts (bool, stored by h5py as an
HDF5 enum), gzip-compressed, one row per transition in episode order. The last
transition of an episode has terminals (the agent died) or timeouts (the time
limit cut it) set.

Behaviour: every episode draws its own scripted controller from a family:
  circle tasks: a velocity-field controller that runs clockwise around a circle of
    random radius and speed, with random gains and temporally correlated action
    noise; some episodes add a barrier that keeps |x| under a random cap (inside
    the x = +-6 safety boundary, or not), and some switch the barrier on or off
    half way; a few are noisy wanderers. The Ball follows the velocity field
    with a world-frame force; the Car, which cannot move sideways, steers by
    pure pursuit of a point ahead on the same (capped) circle.
  run tasks: a cruise-speed controller below or near the velocity limit, some
    with an over-speed burst of random length and speed, some with a lateral
    excursion across the y = +-2 boundary; random gains and noise.
  Safety-Gymnasium goal tasks: drive to the goal (a new one appears when it is
    reached) at a random speed, steering around the hazards with a random
    clearance, or, in some episodes, straight through them; random gains and
    correlated noise.
  Safety-Gymnasium circle tasks: run counter-clockwise around a circle of random
    radius and speed; some episodes cap |x| (and |y| at level 2) inside or
    outside the walls at 1.125, or switch the cap on or off half way.
  MetaDrive tasks: MetaDrive's own IDM driver (lane following with a PID on heading
    and lateral offset, IDM car following, lane changes to overtake) at a target speed
    drawn per episode (mostly 6-30 km/h: the speed cost starts at 10 km/h; some 30-50,
    where the driver also leaves the road in curves), random acceleration and gaps;
    some episodes change speed half way, some do not brake for the car in front
    (crashes), some drift sideways for a stretch (out of road); correlated noise.
  These controllers read the agent's position, heading and the goal and hazard
  positions (MetaDrive: the ego vehicle, its lane and the vehicles around it) from
  the simulator (privileged state); the dataset holds the observations the simulator
  gives a policy.
So episodes spread over reward and cost: some safe, some not, at every usual
threshold, with a spread of returns among the safe ones.

Deterministic: the same arguments give byte-identical data arrays (and, with
the fixed HDF5 settings used here, an identical file), whatever --workers is.
Episode i draws its controller from numpy SeedSequence([seed, i]) and its start
state from np.random.seed(<a number drawn from the same sequence>), and the
simulator is put into one canonical state before every reset (see
evaluator.canonicalize; a MetaDrive episode runs in a fresh simulator whose traffic
is seeded from that number, see evaluator.MetaDriveEpisodes), so episodes do not
depend on each other.

The file is written to a temporary name beside --out and renamed at the end, so
a crash never leaves a half-written dataset.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trac_tasks import METADRIVE, SAFETY_GYMNASIUM, TaskSpec, UnknownTaskError, resolve_task  # noqa: E402

SUPPORTED = ("BallCircle", "BallRun", "CarCircle", "CarRun")
SUPPORTED_GYMNASIUM = ("PointGoal1", "PointGoal2", "CarGoal1", "CarGoal2",
                       "PointCircle1", "PointCircle2", "CarCircle1", "CarCircle2")
SUMMARY_THRESHOLDS = (10, 20, 40)  # the paper's BulletGym thresholds
SUMMARY_THRESHOLDS_GYMNASIUM = (20, 40, 80)  # and its Safety-Gymnasium ones
DESIRABLE_X = 0.5  # TraC's BulletGym default share of safe segments labelled desirable
DESIRABLE_X_METADRIVE = 0.25  # and its MetaDrive one

# Geometry of the tasks (bullet_safety_gym/envs/tasks.py).
CIRCLE_RADIUS = 7.0  # CircleZone radius: the reward is highest on it
CIRCLE_X_LIMIT = 6.0  # |x| > 6 costs 1 per step
RUN_Y_LIMIT = 2.0  # |y| > 2 costs 1 per step
RUN_SPEED_LIMIT = {"Ball": 2.5, "Car": 1.5}  # speed above this costs 1 per step
CAR_TOP_SPEED = 3.3  # roughly the car's speed at full throttle


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


class OUNoise:
    """Temporally correlated Gaussian action noise with stationary std sigma."""

    def __init__(self, rng: np.random.Generator, dim: int, sigma: float, theta: float):
        self.rng = rng
        self.sigma = sigma
        self.theta = theta
        self.state = rng.standard_normal(dim) * sigma

    def sample(self) -> np.ndarray:
        self.state = self.theta * self.state + self.sigma * math.sqrt(1 - self.theta**2) * \
            self.rng.standard_normal(self.state.shape[0])
        return self.state


@dataclass
class AgentState:
    pos: np.ndarray  # world x, y
    vel: np.ndarray  # world vx, vy
    heading: float  # direction of forward travel (Car); unused for Ball


def read_state(task: TaskSpec, obs: np.ndarray) -> AgentState:
    """Decode the agent part of an observation (bullet_safety_gym/envs/agents.py)."""
    if task.agent == "Ball":  # 0.1 xy, 0.2 xy_dot, 0.1 rpy_dot
        return AgentState(obs[0:2] * 10.0, obs[2:4] * 5.0, 0.0)
    if task.agent == "Car":  # 0.1 xy, xy_dot, sin yaw, cos yaw, 0.1 yaw_dot
        # The car is built facing -x (init yaw pi) and drives "forward" with a
        # negative throttle, so its travel direction is yaw + pi.
        heading = math.atan2(-obs[4], -obs[5])
        return AgentState(obs[0:2] * 10.0, obs[2:4].copy(), heading)
    raise ValueError(task.agent)


class Executor:
    """Turns a desired world-frame velocity into an action for the agent."""

    def __init__(self, task: TaskSpec, rng: np.random.Generator):
        self.agent = task.agent
        if self.agent == "Ball":  # world-frame force proportional to the velocity error
            self.kp = _loguniform(rng, 0.5, 4.0)
        else:  # steering on heading error, throttle feed-forward + speed error
            self.ks = _loguniform(rng, 0.6, 3.0)
            self.kv = _loguniform(rng, 0.2, 1.5)

    def __call__(self, st: AgentState, vdes: np.ndarray) -> np.ndarray:
        if self.agent == "Ball":
            return self.kp * (vdes - st.vel)
        speed_des = float(np.linalg.norm(vdes))
        err = _wrap(math.atan2(vdes[1], vdes[0]) - st.heading) if speed_des > 1e-6 else 0.0
        forward = float(st.vel[0] * math.cos(st.heading) + st.vel[1] * math.sin(st.heading))
        # Turning hard at speed: slow down a little when the heading error is large.
        speed_des = min(speed_des, CAR_TOP_SPEED) * (0.5 + 0.5 * math.cos(min(abs(err), math.pi / 2)))
        throttle = speed_des / CAR_TOP_SPEED + self.kv * (speed_des - forward)
        return np.array([-throttle, -self.ks * err])


class CircleBehaviour:
    """Run clockwise around a circle of radius rho, optionally capping |x|."""

    def __init__(self, task: TaskSpec, rng: np.random.Generator):
        steps = task.max_episode_steps
        self.family = "circle"
        car = task.agent == "Car"
        self.rho = float(rng.uniform(4.0, 8.5))
        self.speed = float(rng.uniform(0.8, 3.4) if car else rng.uniform(1.0, 10.0))
        self.kr = float(rng.uniform(0.5, 2.0))
        self.barrier_on = np.zeros(steps, dtype=bool)
        # half the caps well inside the boundary, half near it (a few steps of cost)
        self.xcap = float(rng.uniform(4.0, 6.0) if rng.uniform() < 0.5 else rng.uniform(5.6, 6.8))
        self.kx = float(rng.uniform(0.8, 4.0))
        u = rng.uniform()
        if u < 0.35:
            self.family = "circle+cap"
            self.barrier_on[:] = True
        elif u < 0.6:
            self.family = "circle+cap-switch"
            t0 = int(rng.integers(0, steps))
            if rng.uniform() < 0.5:
                self.barrier_on[:t0] = True
            else:
                self.barrier_on[t0:] = True
        self.wander = rng.uniform() < 0.06
        if self.wander:
            self.family = "wander"
            self.speed *= 0.3
        self.lookahead = float(rng.uniform(1.5, 4.0))
        self.executor = Executor(task, rng)

    def velocity(self, st: AgentState, t: int) -> np.ndarray:
        p = st.pos
        d = float(np.linalg.norm(p)) + 1e-6
        radial = p / d
        tangent = np.array([radial[1], -radial[0]])  # clockwise, as the reward wants
        vdes = self.speed * tangent + self.kr * (self.rho - d) * radial
        if self.barrier_on[t]:
            vdes[0] = float(np.clip(vdes[0], -self.kx * (self.xcap + p[0]), self.kx * (self.xcap - p[0])))
        return vdes

    def pursuit_velocity(self, st: AgentState, t: int) -> np.ndarray:
        """Pure pursuit (for the car, which cannot move sideways): head for a point
        a little further clockwise on the path, the circle of radius rho with x
        clamped to +-xcap while the cap is on."""
        theta = math.atan2(st.pos[1], st.pos[0]) - self.lookahead / max(self.rho, 1.0)
        target = np.array([self.rho * math.cos(theta), self.rho * math.sin(theta)])
        if self.barrier_on[t]:
            target[0] = float(np.clip(target[0], -self.xcap, self.xcap))
        direction = target - st.pos
        return self.speed * direction / (np.linalg.norm(direction) + 1e-6)

    def act(self, st: AgentState, t: int) -> np.ndarray:
        if self.executor.agent == "Car":
            return self.executor(st, self.pursuit_velocity(st, t))
        return self.executor(st, self.velocity(st, t))


class RunBehaviour:
    """Cruise along +x; maybe an over-speed burst and/or a lateral excursion."""

    def __init__(self, task: TaskSpec, rng: np.random.Generator):
        steps = task.max_episode_steps
        limit = RUN_SPEED_LIMIT[task.agent]
        top = CAR_TOP_SPEED if task.agent == "Car" else 8.0
        self.family = "cruise"
        self.speed = np.full(steps, float(rng.uniform(0.25, 0.98) * limit))
        if rng.uniform() < 0.55:
            self.family = "cruise+burst"
            length = max(1, int(round(rng.uniform(0.02, 1.0) * steps)))
            start = int(rng.integers(0, steps - length + 1))
            self.speed[start:start + length] = rng.uniform(1.05 * limit, top)
        self.y_target = np.zeros(steps)
        if rng.uniform() < 0.25:
            self.family += "+swerve"
            length = max(1, int(round(rng.uniform(0.1, 0.8) * steps)))
            start = int(rng.integers(0, steps - length + 1))
            self.y_target[start:start + length] = rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 3.5)
        self.ky = float(rng.uniform(0.3, 1.5))
        self.lookahead = float(rng.uniform(1.0, 3.0))
        self.executor = Executor(task, rng)

    def act(self, st: AgentState, t: int) -> np.ndarray:
        v = self.speed[t]
        dy = self.y_target[t] - st.pos[1]
        if self.executor.agent == "Ball":
            vdes = np.array([v, self.ky * dy])
        else:  # aim at a point ahead on the target line
            direction = np.array([self.lookahead, dy])
            vdes = v * direction / np.linalg.norm(direction)
        return self.executor(st, vdes)


# ----------------------------------------------------------------------------
# Safety-Gymnasium navigation (Point and Car; Goal and Circle)
# ----------------------------------------------------------------------------

SG_WALL = 1.125  # Sigwalls(locate_factor=1.125): |x| (and |y| at level 2) beyond it costs 1 per step


@dataclass
class SGState:
    pos: np.ndarray  # world x, y
    heading: float  # direction of forward travel
    forward_speed: float


def read_sg_state(env) -> SGState:
    agent = env.unwrapped.task.agent
    mat = np.asarray(agent.mat)
    # The Point drives along its body x axis; the Car along its body -y axis (measured).
    forward = mat[:2, 0] if agent.__class__.__name__ == "Point" else -mat[:2, 1]
    heading = math.atan2(forward[1], forward[0])
    vel = np.asarray(agent.vel)[:2]
    return SGState(np.asarray(agent.pos)[:2].copy(), heading, float(vel @ forward))


class SGExecutor:
    """Turns a desired world-frame velocity into the agent's action: a speed command along the
    heading and a turn toward the desired direction (Point: force and turn rate; Car: the
    two wheels' torques, left minus right turning counter-clockwise)."""

    def __init__(self, task: TaskSpec, rng: np.random.Generator):
        self.car = task.agent == "Car"
        self.kw = _loguniform(rng, 0.8, 4.0)
        self.kv = _loguniform(rng, 0.5, 3.0)

    def __call__(self, st: SGState, vdes: np.ndarray) -> np.ndarray:
        speed = float(np.linalg.norm(vdes))
        err = _wrap(math.atan2(vdes[1], vdes[0]) - st.heading) if speed > 1e-6 else 0.0
        # slow down while turning hard
        target = speed * max(0.0, math.cos(min(abs(err), math.pi / 2)))
        drive = float(np.clip(target + self.kv * (target - st.forward_speed), -1.0, 1.0))
        turn = float(np.clip(self.kw * err, -1.0, 1.0))
        if self.car:
            return np.array([drive + turn, drive - turn])
        return np.array([drive, turn])


class SGGoalBehaviour:
    """Drive to the goal; steer around hazards with a random clearance, or ignore them."""

    def __init__(self, task: TaskSpec, rng: np.random.Generator):
        self.family = "goal+avoid"
        self.speed = float(rng.uniform(0.3, 1.0))
        self.clearance = float(rng.uniform(0.05, 0.6))
        self.repulsion = _loguniform(rng, 0.5, 6.0)
        u = rng.uniform()
        if u < 0.3:
            self.family = "goal+straight"
            self.repulsion = 0.0
        elif u < 0.4:
            self.family = "wander"
            self.speed *= 0.4
        self.executor = SGExecutor(task, rng)

    def act(self, env, st: SGState, t: int) -> np.ndarray:
        task = env.unwrapped.task
        goal = np.asarray(task.goal.pos)[:2]
        to_goal = goal - st.pos
        vdes = self.speed * to_goal / (np.linalg.norm(to_goal) + 1e-6)
        if self.repulsion > 0 and hasattr(task, "hazards"):
            size = float(task.hazards.size)
            for h in task.hazards.pos:
                away = st.pos - np.asarray(h)[:2]
                d = float(np.linalg.norm(away)) + 1e-6
                reach = size + self.clearance
                if d < reach + 0.3:
                    vdes = vdes + self.repulsion * (reach + 0.3 - d) * away / d
        if self.family == "wander":
            vdes = vdes + np.array([math.cos(0.01 * t), math.sin(0.013 * t)]) * 0.5
        return self.executor(st, vdes)


class SGCircleBehaviour:
    """Run counter-clockwise around a circle of radius rho, optionally capping |x| (and |y|)."""

    def __init__(self, task: TaskSpec, rng: np.random.Generator):
        steps = task.max_episode_steps
        self.family = "circle"
        self.both_axes = task.name.endswith("2")  # level 2 has walls on y too
        self.rho = float(rng.uniform(0.6, 2.0))
        self.speed = float(rng.uniform(0.3, 1.0))
        self.kr = float(rng.uniform(0.5, 2.5))
        self.cap = float(rng.uniform(0.6, 1.1) if rng.uniform() < 0.5 else rng.uniform(1.05, 1.6))
        self.kx = float(rng.uniform(0.8, 4.0))
        self.barrier_on = np.zeros(steps, dtype=bool)
        u = rng.uniform()
        if u < 0.35:
            self.family = "circle+cap"
            self.barrier_on[:] = True
        elif u < 0.6:
            self.family = "circle+cap-switch"
            t0 = int(rng.integers(0, steps))
            if rng.uniform() < 0.5:
                self.barrier_on[:t0] = True
            else:
                self.barrier_on[t0:] = True
        self.executor = SGExecutor(task, rng)

    def act(self, env, st: SGState, t: int) -> np.ndarray:
        p = st.pos
        d = float(np.linalg.norm(p)) + 1e-6
        radial = p / d
        tangent = np.array([-radial[1], radial[0]])  # counter-clockwise, as the reward wants
        vdes = self.speed * tangent + self.kr * (self.rho - d) * radial
        if self.barrier_on[t]:
            for axis in ((0, 1) if self.both_axes else (0,)):
                vdes[axis] = float(np.clip(vdes[axis], -self.kx * (self.cap + p[axis]),
                                           self.kx * (self.cap - p[axis])))
        return self.executor(st, vdes)


# ----------------------------------------------------------------------------
# MetaDrive (DSRL's nine tasks)
# ----------------------------------------------------------------------------


class MDBehaviour:
    """MetaDrive's IDM driver on the ego vehicle at a random target speed and aggressiveness.

    The speed cost is 0.01 per step and km/h above 10 km/h, so the target speed decides most of
    an episode's cost; crashes (IDM braking off) and leaving the road (a steering drift, or a
    speed the driver cannot hold in a curve) end an episode with a cost of 1 and less reward."""

    def __init__(self, task: TaskSpec, rng: np.random.Generator):
        steps = task.max_episode_steps
        u = rng.uniform()
        if u < 0.45:
            self.family = "idm-slow"
            speed = rng.uniform(6.0, 14.0)
        elif u < 0.85:
            self.family = "idm-cruise"
            speed = rng.uniform(14.0, 30.0)
        else:
            self.family = "idm-fast"
            speed = rng.uniform(30.0, 50.0)
        self.speed = np.full(steps, float(speed))
        if rng.uniform() < 0.25:
            self.family += "+switch"
            t0 = int(rng.integers(0, steps))
            self.speed[t0:] = float(rng.uniform(6.0, 35.0))
        self.acc_factor = _loguniform(rng, 0.5, 2.0)
        self.distance_wanted = float(rng.uniform(4.0, 15.0))
        self.time_wanted = float(rng.uniform(0.6, 2.0))
        self.lane_change = bool(rng.uniform() < 0.7)
        self.brakes = True
        self.drift = np.zeros(steps)
        u = rng.uniform()
        if u < 0.12:
            self.family += "+tailgate"
            self.brakes = False
        elif u < 0.24:
            self.family += "+drift"
            length = max(1, int(round(rng.uniform(0.05, 0.4) * steps)))
            start = int(rng.integers(0, steps - length + 1))
            self.drift[start:start + length] = rng.choice([-1.0, 1.0]) * rng.uniform(0.05, 0.3)
        self.policy_seed = int(rng.integers(0, 2**31))
        self.idm = None

    def act(self, env, t: int) -> np.ndarray:
        if self.idm is None:  # the ego vehicle exists once the episode's simulator is reset
            from metadrive.policy.idm_policy import IDMPolicy

            idm = IDMPolicy(env.simulator.vehicle, self.policy_seed)
            idm.ACC_FACTOR = self.acc_factor
            idm.DISTANCE_WANTED = self.distance_wanted
            idm.TIME_WANTED = self.time_wanted
            idm.enable_lane_change = self.lane_change
            idm.disable_idm_deceleration = not self.brakes
            self.idm = idm
        if self.idm.NORMAL_SPEED != self.speed[t]:
            self.idm.NORMAL_SPEED = self.speed[t]
            self.idm.target_speed = self.speed[t]
        steering, acceleration = self.idm.act()
        return np.array([steering + self.drift[t], acceleration], dtype=np.float64)


def make_behaviour(task: TaskSpec, rng: np.random.Generator):
    if task.family == METADRIVE:
        return MDBehaviour(task, rng)
    if task.family == SAFETY_GYMNASIUM:
        return SGGoalBehaviour(task, rng) if task.kind == "goal" else SGCircleBehaviour(task, rng)
    return CircleBehaviour(task, rng) if task.kind == "circle" else RunBehaviour(task, rng)


def episode_seeds(seed: int, index: int) -> tuple[np.random.Generator, int]:
    """The controller's generator and the simulator's reset seed for one episode."""
    ss = np.random.SeedSequence([seed, index])
    env_seed = int(ss.generate_state(1, dtype=np.uint32)[0])
    return np.random.default_rng(ss.spawn(1)[0]), env_seed


# ----------------------------------------------------------------------------
# Rollouts (run in worker processes when --workers > 1)
# ----------------------------------------------------------------------------

_ENV = None
_ENV_TASK = None


def _env_for(task: TaskSpec):
    global _ENV, _ENV_TASK
    if _ENV is None or _ENV_TASK != task.simulator_id:
        from evaluator import make_env
        _ENV = make_env(task)
        _ENV_TASK = task.simulator_id
    return _ENV


def run_episode(task: TaskSpec, seed: int, index: int, max_steps: int | None = None) -> dict[str, np.ndarray | str]:
    from evaluator import start_episode

    env = _env_for(task)
    rng, env_seed = episode_seeds(seed, index)
    behaviour = make_behaviour(task, rng)
    noise_sigma = float(rng.uniform(0.0, 0.6)) if rng.uniform() < 0.8 else 0.0
    if task.family == METADRIVE:  # the IDM driver leaves the road under much noise: keep it small
        noise_sigma *= 0.25
    noise = OUNoise(rng, task.act_dim, noise_sigma, float(rng.uniform(0.0, 0.9)))
    if getattr(behaviour, "wander", False):
        noise = OUNoise(rng, task.act_dim, float(rng.uniform(0.5, 1.0)), 0.9)

    steps = task.max_episode_steps if max_steps is None else min(max_steps, task.max_episode_steps)
    obs_buf = np.zeros((steps + 1, task.obs_dim), dtype=np.float32)
    act_buf = np.zeros((steps, task.act_dim), dtype=np.float32)
    rew_buf = np.zeros(steps, dtype=np.float32)
    cost_buf = np.zeros(steps, dtype=np.float32)
    term_buf = np.zeros(steps, dtype=bool)
    tout_buf = np.zeros(steps, dtype=bool)

    obs = start_episode(env, env_seed)
    obs_buf[0] = obs
    n = 0
    reward_sum = 0.0
    cost_sum = 0.0
    for t in range(steps):
        if task.family == METADRIVE:
            planned = behaviour.act(env, t)
        elif task.family == SAFETY_GYMNASIUM:
            planned = behaviour.act(env, read_sg_state(env), t)
        else:
            planned = behaviour.act(read_state(task, obs), t)
        action = np.clip(planned + noise.sample(), -1.0, 1.0).astype(np.float32)
        obs, r, terminated, truncated, info = env.step(action)
        act_buf[t] = action
        obs_buf[t + 1] = obs
        rew_buf[t] = r
        cost_buf[t] = info.get("cost", 0.0)
        reward_sum += float(r)
        cost_sum += float(info.get("cost", 0.0))
        n = t + 1
        if terminated or truncated or n == steps:
            term_buf[t] = bool(terminated)
            tout_buf[t] = not terminated  # the time limit (TimeLimit sets truncated at max steps)
            break
    if not np.all(np.isfinite(obs_buf[: n + 1])):
        raise RuntimeError(f"episode {index}: the simulator returned non-finite observations")
    return {
        "observations": obs_buf[:n],
        "next_observations": obs_buf[1 : n + 1],
        "actions": act_buf[:n],
        "rewards": rew_buf[:n],
        "costs": cost_buf[:n],
        "terminals": term_buf[:n],
        "timeouts": tout_buf[:n],
        "reward_return": reward_sum,
        "cost_return": cost_sum,
        "family": behaviour.family,
    }


def _run_chunk(args: tuple[str, int, int, int, int | None]) -> list[dict]:
    task_id, seed, start, stop, max_steps = args
    task = resolve_task(task_id)
    return [run_episode(task, seed, i, max_steps) for i in range(start, stop)]


def generate(task: TaskSpec, episodes: int, seed: int, workers: int, max_steps: int | None = None) -> list[dict]:
    chunk = 10
    jobs = [(task.simulator_id, seed, s, min(s + chunk, episodes), max_steps) for s in range(0, episodes, chunk)]
    if workers <= 1 or len(jobs) == 1:
        out: list[dict] = []
        for j in jobs:
            out.extend(_run_chunk(j))
        return out
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # a clean interpreter per worker (no pybullet state forked)
    with ctx.Pool(processes=workers) as pool:
        out = []
        for part in pool.imap(_run_chunk, jobs):  # imap keeps episode order
            out.extend(part)
    return out


# ----------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------

KEYS = ("observations", "next_observations", "actions", "rewards", "costs", "terminals", "timeouts")


def write_hdf5(path: Path, task: TaskSpec, episodes: list[dict], seed: int) -> None:
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w", track_order=False) as f:
            for key in KEYS:
                data = np.concatenate([ep[key] for ep in episodes], axis=0)
                f.create_dataset(key, data=data, compression="gzip", compression_opts=4,
                                 track_times=False)
            f.attrs["generator"] = "trac-sweep scripts/make_dataset.py"
            f.attrs["task"] = task.simulator_id
            f.attrs["dsrl_task"] = task.dsrl_id
            f.attrs["episodes"] = len(episodes)
            f.attrs["seed"] = seed
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise


def _quantiles(values) -> str:
    q = np.quantile(np.asarray(values, dtype=np.float64), [0, 0.25, 0.5, 0.75, 1.0])
    return "  ".join(f"{name} {v:9.2f}" for name, v in zip(("min", "p25", "p50", "p75", "max"), q))


def summary(task: TaskSpec, episodes: list[dict], seconds: float, out: Path) -> str:
    R = np.array([ep["reward_return"] for ep in episodes])
    C = np.array([ep["cost_return"] for ep in episodes])
    lengths = np.array([len(ep["rewards"]) for ep in episodes])
    n = len(episodes)
    desirable_x = DESIRABLE_X_METADRIVE if task.family == METADRIVE else DESIRABLE_X
    lines = [
        f"task            {task.simulator_id} ({task.dsrl_id})",
        f"output          {out}",
        f"episodes        {n}",
        f"transitions     {int(lengths.sum())}  (episode length min {lengths.min()} max {lengths.max()};"
        f" {int((lengths == lengths.max()).sum())} episodes of max length)",
        f"wall seconds    {seconds:.1f}",
        f"reward return   {_quantiles(R)}",
        f"  normalized    {_quantiles((R - task.r_min) / (task.r_max - task.r_min))}",
        f"cost return     {_quantiles(C)}",
        f"per threshold (desirable = top ceil(x * n_safe) safe episodes by reward, x = {desirable_x};"
        " episodes stand for segments, as with seg_ratio 1.0):",
    ]
    thresholds = SUMMARY_THRESHOLDS_GYMNASIUM if task.family == SAFETY_GYMNASIUM else SUMMARY_THRESHOLDS
    for c in thresholds:
        safe = C <= c
        n_safe = int(safe.sum())
        n_des = math.ceil(desirable_x * n_safe)
        line = f"  C={c:<3d} safe {n_safe:4d}/{n} = {100 * n_safe / n:5.1f}%   desirable {n_des:4d} = {100 * n_des / n:5.1f}%"
        if n_safe:
            rs = np.sort(R[safe])
            line += (f"   safe reward min/median/max {rs[0]:.1f}/{np.median(rs):.1f}/{rs[-1]:.1f}"
                     f"   desirable from {rs[len(rs) - n_des]:.1f}")
        lines.append(line)
    fams: dict[str, list[int]] = {}
    for i, ep in enumerate(episodes):
        fams.setdefault(ep["family"], []).append(i)
    lines.append(f"behaviour families (episodes, safe at C={thresholds[1]}, mean reward):")
    for name in sorted(fams):
        idx = fams[name]
        lines.append(f"  {name:22s} {len(idx):4d}  {int((C[idx] <= thresholds[1]).sum()):4d}  {R[idx].mean():8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make_dataset.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("task", help="e.g. OfflineBallCircle-v0 or SafetyBallCircle-v0")
    parser.add_argument("--episodes", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=None,
                        help="cut every episode at this many steps (default: the task's episode length)")
    args = parser.parse_args(argv)

    try:
        task = resolve_task(args.task)
    except UnknownTaskError as exc:
        parser.error(str(exc))
    if task.name not in SUPPORTED + SUPPORTED_GYMNASIUM and task.family != METADRIVE:
        parser.error(f"no scripted behaviour for {task.dsrl_id}: supported tasks are "
                     + ", ".join(f"Offline{n}-v0" for n in SUPPORTED) + ", "
                     + ", ".join(f"Offline{n}Gymnasium-v0" for n in SUPPORTED_GYMNASIUM)
                     + " and the nine MetaDrive tasks"
                     " (OfflineMetadrive-easysparse-v0 ... OfflineMetadrive-harddense-v0)")
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    if not (0 <= args.seed < 2**32):
        parser.error("--seed must be in [0, 2**32)")
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    if args.max_steps is not None and args.max_steps < 1:
        parser.error("--max-steps must be >= 1")

    # pybullet may print to the C-level stdout: keep stdout for the summary only.
    sys.stdout.flush()
    report = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    started = time.monotonic()
    episodes = generate(task, args.episodes, args.seed, args.workers, args.max_steps)
    write_hdf5(args.out, task, episodes, args.seed)
    report.write(summary(task, episodes, time.monotonic() - started, args.out) + "\n")
    report.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
