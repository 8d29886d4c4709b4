"""The environments of one function version (a pool per RunSpec.pool_key): which are idle, which
generation is current, and what to do with an environment when its event is done.

A pool's generation goes up whenever its environments must not take new events any more (the
code or configuration changed, the function was deleted); idle ones of older generations are
handed back to be stopped at once, busy ones when they are released. The decisions are the pure
functions of lamina.engine.policy; this is the bookkeeping around them. Imports lamina.engine.*.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamina.engine import policy
from lamina.engine.states import LIVE, State

if TYPE_CHECKING:
    from lamina.engine.environment import Environment
    from lamina.engine.spec import RunSpec


class Pool:
    def __init__(self, key: tuple[str, str], revision: str | None) -> None:
        self.key = key
        self.revision = revision
        self.generation = 0
        self.environments: set[Environment] = set()  # every environment not yet gone
        self.idle: list[Environment] = []  # ready ones, oldest release first
        self.last_used = 0.0
        self.provisioned = 0  # environments to keep initialised ahead (provisioned concurrency)
        self.provisioned_spec: RunSpec | None = None
        # the spec whose invokes passed the engine's checks (runtime installed, handler passable,
        # file systems mountable): they depend on nothing else, so the next invoke of it skips them
        self.vetted: RunSpec | None = None

    def __len__(self) -> int:
        return len(self.environments)

    def take(self) -> Environment | None:
        """A warm environment for the next event, or None when a new one must start."""
        index = policy.pick_warm(self.idle, self.generation)
        return None if index is None else self.idle.pop(index)

    def add(self, env: Environment) -> None:
        self.environments.add(env)

    def release(self, env: Environment, now: float, closing: bool) -> Environment | None:
        """Its event is done: back to the idle list, or returned to be stopped."""
        self.last_used = now
        action = policy.after_release(env.state is State.READY, env.generation, self.generation, closing)
        if action == policy.KEEP:
            env.released_at = now
            self.idle.append(env)
            return None
        if action == policy.STOP:
            return env
        return None  # already ending; discard() follows when it is gone

    def discard(self, env: Environment) -> None:
        """Forget an environment that is gone."""
        self.environments.discard(env)
        if env in self.idle:
            self.idle.remove(env)

    def retire(self, revision: str | None = None) -> list[Environment]:
        """Start a new generation (optionally for a new revision); returns the idle environments to
        stop now. Busy ones are stopped when released."""
        self.generation += 1
        if revision is not None:
            self.revision = revision
        return self._remove(policy.reap(self.idle, 0.0, float("inf"), self.generation))

    def reap(self, now: float, idle_timeout: float) -> list[Environment]:
        """Idle environments past `idle_timeout` (removed from the idle list, to be stopped);
        provisioned ones of the current generation stay."""
        return self._remove(policy.reap(self.idle, now, idle_timeout, self.generation))

    def provision(self, target: int, spec: RunSpec | None = None) -> None:
        """Keep `target` environments of `spec` initialised ahead (0: on-demand only); those beyond
        it stop counting as provisioned and age out as idle ones do. `missing()` says how many to
        start."""
        self.provisioned = target
        if spec is not None:
            self.provisioned_spec = spec
        listed = list(self.environments)
        for index in policy.provisioned_to_demote(listed, target, self.generation):
            listed[index].provisioned = False

    def missing(self) -> int:
        """How many provisioned environments to start to reach the target."""
        return policy.provisioned_to_start(self.provisioned, self.provisioned_count(LIVE))

    def provisioned_count(self, states: tuple[State, ...]) -> int:
        """Provisioned environments of the current generation in one of `states`."""
        return sum(1 for env in self.environments
                   if env.provisioned and env.generation == self.generation and env.state in states)

    def _remove(self, indexes: list[int]) -> list[Environment]:
        if not indexes:
            return []
        chosen = set(indexes)
        out = [env for i, env in enumerate(self.idle) if i in chosen]
        self.idle = [env for i, env in enumerate(self.idle) if i not in chosen]
        return out

    def counts(self) -> dict[State, int]:
        out: dict[State, int] = {}
        for env in self.environments:
            out[env.state] = out.get(env.state, 0) + 1
        return out
