"""A live env whose sandbox and grading run in a Ray actor on some node of a cluster, driven from here.

::

    env = open_env(SWEEnv, BackendConfig("ray"), task=row, config=LiveConfig(max_steps=10))
    obs, info = env.reset()
    obs, reward, terminated, truncated, info = env.step(completion)   # the tool call runs on that node
    env.close()

Agentic rollouts and RLVR keep the policy where it is (one batched model serves every episode)
and send only actions and observations over the wire: each episode is one actor that declares
its container's CPUs and memory and holds the env (sandbox, tools, grading container) on its
node. :class:`RemoteEnv` answers what the episode loop (:func:`srl_swe.agent.recorder.record_episode`)
asks of an env. A worker that dies mid-episode is the infrastructure's failure: the step ends the
episode with ``infra_error``, ``reward_valid=False`` and ``worker_died``, as a sandbox that dies
locally does (agentic rollouts start such an episode again in a new actor), and the actor's
containers are reaped on that node.
"""
from __future__ import annotations

from typing import Any

from ..backend import BackendConfig, connect_ray, memory_bytes, prepare_worker
from ..evaluation.engine import ensure_images
from ..sandbox.runtime import SandboxError, reap_dead_owners
from ..scaffold import load_scaffold
from .live import LiveConfig


class WorkerDied(SandboxError):
    """The Ray worker holding an episode died (killed, out of memory, node lost): an infrastructure failure."""


class EnvHost:
    """Inside the actor: the env itself. Each call returns the state the driver mirrors (task, messages, steps)."""

    def __init__(self, env_class: type, kwargs: dict[str, Any], backend: BackendConfig):
        prepare_worker(backend)
        if kwargs.get("task"):  # a node that lacks the task's image builds it (registered envs) or pulls it
            problems = ensure_images([kwargs["task"]])
            if problems:
                raise SandboxError(next(iter(problems.values())))
        self.env = env_class(**kwargs)

    def _state(self) -> dict[str, Any]:
        return {"task": self.env.task, "messages": self.env.messages, "steps_taken": self.env.steps_taken}

    def reset(self, seed: int | None, options: dict[str, Any] | None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        observation, info = self.env.reset(seed=seed, options=options)
        return observation, info, self._state()

    def step(self, action: str) -> tuple[Any, ...]:
        return (*self.env.step(action), self._state())

    def grade(self, info: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        reward = self.env.grade(info)
        return reward, info

    def close(self) -> None:
        self.env.close()


class RemoteEnv:
    """The driver's side of an env held by an :class:`EnvHost` actor (see the module doc)."""

    def __init__(self, env_class: type, backend: BackendConfig, **kwargs: Any):
        self._ray = connect_ray(backend.ray_address)
        self.config: LiveConfig = kwargs.get("config") or LiveConfig()
        self.scaffold = load_scaffold(self.config.scaffold)
        self.task: dict[str, Any] | None = None
        self.messages: list[dict[str, str]] = []
        self.steps_taken = 0
        host = self._ray.remote(EnvHost).options(num_cpus=self.config.sandbox.cpus,
                                                 memory=memory_bytes(self.config.sandbox.memory), max_restarts=0)
        self._actor = host.remote(env_class, kwargs, backend)

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return self._ray.get(getattr(self._actor, method).remote(*args))
        except self._ray.exceptions.RayActorError as exc:  # the worker holding the episode died
            raise WorkerDied(f"the Ray worker holding this episode's sandbox died: {exc}") from exc
        except self._ray.exceptions.RayTaskError as exc:  # the env raised: the same error as a local env's
            raise exc.as_instanceof_cause() from None

    def _mirror(self, state: dict[str, Any]) -> None:
        self.task, self.messages, self.steps_taken = state["task"], state["messages"], state["steps_taken"]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        observation, info, state = self._call("reset", seed, options)
        self._mirror(state)
        return observation, info

    def step(self, action: str) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        try:
            *result, state = self._call("step", action)
        except WorkerDied as exc:
            self.steps_taken += 1
            info = {"instance_id": (self.task or {}).get("instance_id"), "step": self.steps_taken, "format_ok": True,
                    "infra_error": str(exc), "reward_valid": False, "worker_died": True}
            return tuple(dict(m) for m in self.messages), 0.0, True, False, info
        self._mirror(state)
        return tuple(result)  # type: ignore[return-value]

    def grade(self, info: dict[str, Any]) -> float:
        try:
            reward, filled = self._call("grade", info)
        except SandboxError as exc:
            info.update(infra_error=str(exc), reward_valid=False, resolved=False, worker_died=isinstance(exc, WorkerDied))
            return 0.0
        info.update(filled)
        return reward

    def close(self) -> None:
        try:
            self._call("close")
        except SandboxError:
            reap_dead_owners()  # its worker is gone; on a single machine its containers are reaped here
        finally:
            self._ray.kill(self._actor)


def open_env(env_class: type, backend: BackendConfig | None, **kwargs: Any) -> Any:
    """``env_class(**kwargs)`` here (local backend), or the same env in a Ray actor behind a :class:`RemoteEnv`."""
    if backend is None or backend.name == "local":
        return env_class(**kwargs)
    return RemoteEnv(env_class, backend, **kwargs)
