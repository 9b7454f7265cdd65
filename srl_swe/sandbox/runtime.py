"""Docker sandboxes for agents: one container per episode, a persistent shell, files, diffs, cleanup.

::

    with Sandbox("srl-swe/base:bookworm") as sb:
        sb.run("cd /tmp && export X=1")
        sb.run("echo $X $PWD").output          # '1 /tmp\\n'
        sb.write_file("hello.py", "print('hi')\\n")
        sb.diff()                              # the repo's changes against HEAD, new files included

The container runs with no network (opt in with ``SandboxConfig(network=True)``), memory, CPU and
pids limits, no host mounts, reduced capabilities, ``no-new-privileges`` and an init process that
reaps zombies. It carries labels naming the session and the owning process, so that
:func:`reap` can remove the orphans of a runner that was killed with SIGKILL. Containers are
removed by :meth:`Sandbox.close`, on garbage collection, at interpreter exit and on SIGTERM.

:meth:`Sandbox.run` goes through a persistent bash session (:mod:`srl_swe.sandbox.shell`): about
a millisecond of overhead per command instead of the ~80 ms of a `docker exec`
(:meth:`Sandbox.exec`, kept as the baseline and for one-off commands).
"""
from __future__ import annotations

import atexit
import functools
import io
import logging
import os
import posixpath
import re
import resource
import signal
import socket
import tarfile
import threading
import time
import uuid
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import SRLSweError
from .engines import engine_client, engine_name
from .shell import OutputCapture, ShellGone, ShellOutput, ShellSession

log = logging.getLogger(__name__)

LABEL_MANAGED = "srl-swe.managed"
"""Label on every container this module starts (value ``true``)."""
LABEL_SESSION = "srl-swe.session"
"""Label: the sandbox's session id (a UUID)."""
LABEL_OWNER_PID = "srl-swe.owner-pid"
"""Label: pid of the process that started the container."""
LABEL_OWNER_START = "srl-swe.owner-start"
"""Label: that process's start time (clock ticks after boot), to tell a reused pid from the owner."""
LABEL_SNAPSHOT = "srl-swe.snapshot"
"""Label of an image committed from a sandbox (:mod:`srl_swe.gym.prefix`): the task it holds a state of."""
LABEL_OWNER_HOST = "srl-swe.owner-host"
"""Label: host name of the owner; owners on other hosts are never judged dead by pid."""
TIMEOUT_EXIT_CODE = 124
"""Exit code reported for a command that timed out (as coreutils ``timeout`` does)."""
DEFAULT_IMAGE = "srl-swe/base:bookworm"
"""The offline base image built by ``srl_swe/resources/scripts/ensure_docker.sh``."""


class SandboxError(SRLSweError):
    """The sandbox could not be started or used (no daemon, missing image, container gone)."""


class RepositoryError(SandboxError):
    """The container answers but git cannot read its repository (``.git`` deleted or corrupted): where an agent
    acted in the container, its doing, not an infrastructure failure."""


def _default_env() -> dict[str, str]:
    return {"PAGER": "cat", "GIT_PAGER": "cat", "MANPAGER": "cat", "PIP_PROGRESS_BAR": "off",
            "PYTHONUNBUFFERED": "1", "TERM": "dumb"}


@dataclass
class SandboxConfig:
    """How a sandbox container is started and how commands run in it."""

    workdir: str = "/testbed"
    """Working directory of the container and of every shell (created if missing)."""
    network: bool = False
    """Give the container the default bridge network; off means ``network_mode="none"``."""
    memory: str = "4g"
    """Memory limit (docker syntax, e.g. ``"512m"``); swap is not allowed on top."""
    cpus: float = 1.0
    """CPU limit in cores (docker ``nano_cpus``)."""
    pids_limit: int = 512
    """Most processes/threads the container may hold at once (stops fork bombs)."""
    disk: str = "10g"
    """Size limit of the container's writable layer (docker ``--storage-opt size``), where the daemon's storage
    supports it (btrfs with simple quotas, as the daemon ``make docker`` starts has; overlay2 on xfs with pquota);
    elsewhere only ``file_size_limit`` holds (a warning says so, once). The image's own files do not count."""
    file_size_limit: int = 2 * 2**30
    """Largest file, in bytes, any process in the container may write (``RLIMIT_FSIZE``): on every daemon."""
    open_files: int = 8192
    """Most files a process in the container may hold open (``RLIMIT_NOFILE``)."""
    user_processes: int = 32768
    """``RLIMIT_NPROC``, counted per user across the host (``pids_limit`` bounds the container's own processes). Both
    are set, at most this process's own limits, rather than left to the engine: Docker passes on its daemon's, Podman
    asks for 1048576 of each, which a host without CAP_SYS_RESOURCE refuses."""
    log_limit: str = "10m"
    """Size of the container's own log (what PID 1 prints) that the daemon keeps (json-file ``max-size``, one file)."""
    command_timeout: float = 120.0
    """Default timeout of :meth:`Sandbox.run` and :meth:`Sandbox.exec`, in seconds."""
    output_limit: int = 65_536
    """Most output bytes a command result keeps (head and tail, with a marker between)."""
    notes: bool = True
    """Append a ``[sandbox: ...]`` line to the output on timeouts and shell restarts."""
    interrupt_grace: float = 2.0
    """Seconds to wait for the shell to come back after a timed-out command's processes are killed."""
    env: dict[str, str] = field(default_factory=_default_env)
    """Environment variables of the container (pagers off: agents have no terminal)."""
    cap_drop: tuple[str, ...] = ("NET_RAW", "MKNOD", "AUDIT_WRITE", "SYS_CHROOT", "SETFCAP")
    """Linux capabilities dropped from docker's default set (those a dev workflow does not need)."""
    user: str = ""
    """User to run as inside the container (empty: the image's default, root for srl-swe images)."""
    hostname: str = "sandbox"
    """Host name inside the container."""
    start_timeout: float = 60.0
    """Seconds to wait for the container's shells to answer after start."""
    docker_timeout: int = 120
    """Timeout of Docker API calls, in seconds."""


@dataclass(frozen=True)
class CommandResult:
    """What a command printed and how it ended."""

    output: str
    """stdout and stderr merged in order; truncated (head + tail with a marker) past the budget."""
    exit_code: int
    """Exit status; 124 when the command timed out."""
    timed_out: bool = False
    """The command ran past its timeout and was killed; ``output`` ends with a note saying so."""
    truncated: bool = False
    """Part of the output was dropped to stay within ``SandboxConfig.output_limit``."""
    duration: float = 0.0
    """Wall-clock seconds from sending the command to having its result."""


# --------------------------------------------------------------------------- cleanup on exit

_LIVE: "weakref.WeakSet[Sandbox]" = weakref.WeakSet()
_hooks_lock = threading.Lock()
_hooks_installed = False
_reaped = False


_removals: ThreadPoolExecutor | None = None
_pending_removals: "set[Future[None]]" = set()


def _remove_container(container: Any) -> None:
    try:
        container.remove(force=True, v=True)
    except Exception as exc:  # noqa: BLE001
        if "No such container" not in str(exc) and "is already in progress" not in str(exc):
            log.warning("could not remove sandbox container %s: %s", container.id[:12], exc)


def _remove_later(container: Any) -> "Future[None]":
    """Remove ``container`` in a background thread (a container's removal takes about a second on btrfs)."""
    global _removals
    with _hooks_lock:
        if _removals is None:
            _removals = ThreadPoolExecutor(max_workers=2, thread_name_prefix="srl-swe-remove")
        future = _removals.submit(_remove_container, container)
        _pending_removals.add(future)
    future.add_done_callback(_pending_removals.discard)
    return future


def wait_for_removals() -> None:
    """Block until every container handed to a background removal is gone."""
    for future in list(_pending_removals):
        future.result()


def _close_all() -> None:
    for sandbox in list(_LIVE):
        try:
            sandbox.close()
        except Exception:  # noqa: BLE001 - best effort at exit
            log.debug("closing %s at exit failed", sandbox, exc_info=True)
    wait_for_removals()


def install_exit_hooks() -> None:
    """Close every live sandbox at interpreter exit and on SIGTERM (then die by SIGTERM as before).

    Runs when the first sandbox starts; a program whose sandboxes start in worker threads calls it
    from its main thread first (the CLI does), since only that thread may set a signal handler.
    """
    global _hooks_installed
    with _hooks_lock:
        if _hooks_installed:
            return
        _hooks_installed = True
        atexit.register(_close_all)
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: Any) -> None:
            _close_all()
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)


def _unsendable(command: str) -> str | None:
    """Why a shell cannot receive ``command`` as written (None: it can): bash drops NUL bytes silently, and text
    that is not valid Unicode cannot be encoded."""
    if "\x00" in command:
        return f"it contains {command.count(chr(0))} NUL byte(s), which a shell cannot receive; remove them"
    try:
        command.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"it is not valid UTF-8 text ({exc.reason} at character {exc.start})"
    return None


def how_to_build(image: str) -> str:
    """The command that makes a missing image, by its name."""
    match = re.match(r"srl-swe/(env|task)\.([^:]+)", image)
    if match:
        kind, env = match.groups()
        return f"build it with `srl-swe envs build {env}{' --tasks' if kind == 'task' else ''}`"
    if image == DEFAULT_IMAGE:
        return ("load it with `make podman` (srl_swe/resources/scripts/ensure_podman.sh)" if engine_name() == "podman"
                else "build it with `make docker` (srl_swe/resources/scripts/ensure_docker.sh)")
    return "pull it (`docker pull`) or build it; SWE-bench images come from `srl-swe evaluate` (it pulls what is missing)"


_disk_quota: dict[str, bool] = {}


def can_limit_disk(client: Any) -> bool:
    """Whether this daemon's storage can limit a container's writable layer (checked once, then cached)."""
    if "supported" not in _disk_quota:
        try:
            info = client.info()
        except Exception:  # noqa: BLE001 - no info: assume no quota support
            info = {}
        status = dict(info.get("DriverStatus") or [])
        _disk_quota["supported"] = (info.get("Driver") == "btrfs"  # simple quotas: the root ensure_docker.sh sets up
                                    or info.get("Driver") == "overlay2" and status.get("Backing Filesystem") == "xfs")
        if not _disk_quota["supported"]:
            log.warning("the Docker storage (%s on %s) cannot limit a container's disk: only the per-file limit "
                        "applies", info.get("Driver"), status.get("Backing Filesystem"))
    return _disk_quota["supported"]


def _storage_limit(client: Any, size: str) -> dict[str, Any]:
    """``storage_opt`` for ``containers.create`` when this daemon can limit a writable layer, else nothing."""
    return {"storage_opt": {"size": size}} if size and can_limit_disk(client) else {}


def container_rlimits(cfg: SandboxConfig | None = None) -> list[Any]:
    """``nofile`` and ``nproc`` as configured (``SandboxConfig`` defaults when None), no higher than this process's
    own hard limits: the ``ulimits`` of any container this project starts (see ``SandboxConfig.user_processes``)."""
    import docker

    cfg = cfg or SandboxConfig()
    limits = []
    for name, which, wanted in (("nofile", resource.RLIMIT_NOFILE, cfg.open_files),
                                ("nproc", resource.RLIMIT_NPROC, cfg.user_processes)):
        hard = resource.getrlimit(which)[1]
        value = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        limits.append(docker.types.Ulimit(name=name, soft=value, hard=value))
    return limits


def _from_the_client(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the Docker client or its HTTP stack (daemon gone, connection refused, API error)."""
    return any(cls.__module__.split(".")[0] in ("docker", "requests", "urllib3") for cls in type(exc).__mro__)


def _daemon_errors(method: Any) -> Any:
    """Client failures surface as :class:`SandboxError`, the one class callers handle as infrastructure (the live
    env's callers got the client's ConnectionError, or one of its internal classes, when the daemon died)."""
    @functools.wraps(method)
    def wrapper(self: "Sandbox", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            if isinstance(exc, SRLSweError) or not _from_the_client(exc):
                raise
            raise SandboxError(f"the Docker daemon failed during {method.__name__} of sandbox {self.id[:12]}: "
                               f"{type(exc).__name__}: {exc}") from exc
    return wrapper


def _reap_dead_owners_once(client: Any) -> None:
    """The first sandbox of a process removes the containers of owners that died (SIGKILL, a crash): whatever
    command starts containers next cleans up after a killed one."""
    global _reaped
    with _hooks_lock:
        if _reaped:
            return
        _reaped = True
    reap_dead_owners(client)


def reap_dead_owners(client: Any = None) -> None:
    """:func:`reap` the containers of dead owners on this host, never failing: cleaning up others' leftovers must
    not stop the caller (a Ray worker calls it before each unit, the first sandbox of a process once)."""
    try:
        reap(client=client)
    except Exception:  # noqa: BLE001 - see above
        log.debug("reaping orphaned sandboxes failed", exc_info=True)


def _process_start_time(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks after boot (field 22 of /proc/PID/stat); None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat.rsplit(b")", 1)[-1].split()[19].decode()


def _client(timeout: int = 120) -> Any:
    try:
        return engine_client(timeout)
    except SRLSweError as exc:
        raise SandboxError(str(exc)) from None


# --------------------------------------------------------------------------- the sandbox


class Sandbox:
    """One container with a persistent shell. Use as a context manager; not thread-safe."""

    @_daemon_errors
    def __init__(self, image: str = DEFAULT_IMAGE, config: SandboxConfig | None = None, *,
                 client: Any = None):
        """Start a container from ``image`` and its shells; raises :class:`SandboxError` on failure."""
        self.image = image
        self.config = config or SandboxConfig()
        self.client = client or _client(self.config.docker_timeout)
        self.session_id = uuid.uuid4().hex
        self.container: Any = None
        self._worker: ShellSession | None = None
        self._control: ShellSession | None = None
        self._cwd = self.config.workdir
        self._closed = False
        install_exit_hooks()
        _reap_dead_owners_once(self.client)
        _LIVE.add(self)
        try:
            self._create()
            self._start_shells()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ lifecycle

    @property
    def id(self) -> str:
        """The container id."""
        return self.container.id if self.container is not None else ""

    @property
    def labels(self) -> dict[str, str]:
        """The labels this sandbox puts on its container."""
        pid = os.getpid()
        return {
            LABEL_MANAGED: "true",
            LABEL_SESSION: self.session_id,
            LABEL_OWNER_PID: str(pid),
            LABEL_OWNER_START: _process_start_time(pid) or "",
            LABEL_OWNER_HOST: socket.gethostname(),
        }

    def _create(self) -> None:
        import docker.errors
        import docker.types

        cfg = self.config
        try:
            self.container = self.client.containers.create(
                self.image,
                command=["sleep", "infinity"],
                name=f"srl-swe-{self.session_id[:12]}",
                labels=self.labels,
                init=True,
                # nothing inside needs a graceful stop: Podman's forced removal then never waits out a stop
                # timeout (Docker's kills at once anyway)
                stop_signal="SIGKILL",
                working_dir=cfg.workdir,
                environment=dict(cfg.env),
                hostname=cfg.hostname,
                network_mode="bridge" if cfg.network else "none",
                mem_limit=cfg.memory,
                memswap_limit=cfg.memory,
                nano_cpus=int(cfg.cpus * 1e9),
                pids_limit=cfg.pids_limit,
                ulimits=[docker.types.Ulimit(name="fsize", soft=cfg.file_size_limit, hard=cfg.file_size_limit),
                         *container_rlimits(cfg)],
                log_config=docker.types.LogConfig(type="json-file", config={"max-size": cfg.log_limit, "max-file": "1"}),
                **_storage_limit(self.client, cfg.disk),
                cap_drop=list(cfg.cap_drop),
                security_opt=["no-new-privileges"],
                privileged=False,
                user=cfg.user,
                stdin_open=False,
                tty=False,
                detach=True,
            )
            self.container.start()
        except docker.errors.ImageNotFound as exc:
            raise SandboxError(f"image {self.image!r} is missing; {how_to_build(self.image)}") from exc
        except docker.errors.APIError as exc:
            if "storage-opt" in str(exc) and _disk_quota.get("supported"):  # xfs mounted without pquota
                _disk_quota["supported"] = False
                log.warning("the Docker storage cannot limit a container's disk (%s): only the per-file limit applies",
                            exc)
                return self._create()
            raise SandboxError(f"could not start a container from {self.image!r}: {exc}") from exc

    def _start_shells(self) -> None:
        self._start_control()
        self._start_worker(restore=False)

    def _start_control(self) -> None:
        if self._control is not None:
            self._control.close()
        self._control = ShellSession(self.client.api, self.container.id, workdir="/", new_session=False,
                                     user=self.config.user, start_timeout=self.config.start_timeout)

    def _start_worker(self, *, restore: bool) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        self._worker = ShellSession(self.client.api, self.container.id, workdir=self.config.workdir,
                                    restore_from=self._cwd if restore else None, user=self.config.user,
                                    start_timeout=self.config.start_timeout)
        self._cwd = self._worker.cwd or self._cwd

    @_daemon_errors
    def restart(self) -> None:
        """Kill every process in the container and start fresh shells; files are kept.

        The working directory and exported variables of the shell survive; shell variables,
        functions and background processes do not.
        """
        self._check_open()
        for session in (self._worker, self._control):
            if session is not None:
                session.close()
        self._worker = self._control = None
        try:
            self.container.kill()
        except Exception:  # noqa: BLE001 - already stopped
            pass
        try:
            self.container.wait(timeout=30)
            self.container.start()
            self._start_control()
            self._start_worker(restore=True)
        except Exception as exc:  # noqa: BLE001
            raise SandboxError(f"sandbox {self.id[:12]} could not be restarted: {exc}") from exc

    def close(self, *, wait: bool = True) -> "Future[None] | None":
        """Remove the container (idempotent; never raises for a container that is already gone). ``wait=False``
        removes it in a background thread and returns its future: the next episode need not wait (at exit and on
        SIGTERM every pending removal is waited for; after a SIGKILL the reaper removes it)."""
        if self._closed:
            return None
        self._closed = True
        _LIVE.discard(self)
        for session in (self._worker, self._control):
            if session is not None:
                session.close()
        if self.container is None:
            return None
        if not wait:
            return _remove_later(self.container)
        _remove_container(self.container)
        return None

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"Sandbox({self.image!r}, id={self.id[:12]!r}, {state})"

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("the sandbox is closed")

    # ------------------------------------------------------------------ commands

    @_daemon_errors
    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        """Run ``command`` in the persistent bash session (cwd and env persist; stdin is empty).

        On timeout the command's processes are killed and the result says so (``timed_out``,
        exit code 124, a note at the end of ``output``); the shell is restarted if it does not
        come back. Output past ``config.output_limit`` bytes keeps its head and tail.
        """
        self._check_open()
        refused = _unsendable(command)
        if refused:
            return CommandResult(f"[sandbox: the command was not run: {refused}]\n", 2)
        limit = self.config.command_timeout if timeout is None else float(timeout)
        t0 = time.monotonic()
        notes: list[str] = []
        if self._worker is None or not self._worker.alive:
            self._recover_worker(notes)
        assert self._worker is not None
        try:
            out = self._worker.run(command, timeout=limit, limit=self.config.output_limit)
        except ShellGone:
            self._recover_worker(notes)
            out = self._worker.run(command, timeout=limit, limit=self.config.output_limit)
        timed_out = out.timed_out
        if timed_out:
            out = self._interrupt(out, notes)
            exit_code = TIMEOUT_EXIT_CODE
            notes.insert(0, f"the command timed out after {limit:g} seconds and was killed")
        elif out.shell_exited:
            exit_code = self._worker.stream.exit_code()
            exit_code = -1 if exit_code is None else exit_code
            self._recover_worker(notes)
            notes.insert(0, "the shell exited")
        else:
            exit_code = out.exit_code if out.exit_code is not None else -1
            self._cwd = out.cwd or self._cwd
        text = out.output.decode("utf-8", errors="replace")
        if timed_out:  # bash's job notice about our SIGKILL ("bash: line 7:  42 Killed  sleep 9") is noise
            text = text[:-4096] + _KILLED_NOTICE.sub("", text[-4096:])
        if notes and self.config.notes:
            sep = "" if not text or text.endswith("\n") else "\n"
            text += f"{sep}[sandbox: {'; '.join(notes)}]\n"
        return CommandResult(text, exit_code, timed_out, out.truncated, time.monotonic() - t0)

    def _interrupt(self, out: ShellOutput, notes: list[str]) -> ShellOutput:
        """After a timeout: kill the command's processes and get the shell back (or a new one)."""
        assert self._worker is not None
        worker = self._worker
        killed = self._kill_session(worker.pid, include_leader=False)
        if killed is not None:
            # Nothing to kill means the shell itself is busy (`while :; do :; done`): barely wait.
            late = worker.wait(self.config.interrupt_grace if killed else 0.2)
            # The shell may have forked once more after the kill (a fork it was retrying at the pids limit, say, a
            # fork bomb's second half): it is given back only if its session is empty now that it is idle.
            if late.exit_code is not None and self._kill_session(worker.pid, include_leader=False) == 0:
                # Reap the killed background jobs now: bash would otherwise print their notices
                # ("bash: line 7:  42 Killed  sh -c ...") at the start of the next command's output.
                try:
                    reaped = worker.run("wait", timeout=self.config.interrupt_grace, limit=4096)
                except ShellGone:
                    reaped = None
                if reaped is not None and reaped.exit_code is not None:
                    self._cwd = late.cwd or self._cwd
                    return late
            out = late
            if self._kill_session(worker.pid, include_leader=True) is not None:
                try:
                    self._start_worker(restore=True)
                    notes.append(f"the shell was restarted in {self._cwd} (shell variables were lost)")
                    return out
                except Exception:  # noqa: BLE001 - fall through to a full restart
                    log.debug("worker restart failed", exc_info=True)
        self.restart()
        notes.append(f"all processes of the sandbox were restarted; files were kept, the shell is in {self._cwd}")
        return out

    def _kill_session(self, sid: int, *, include_leader: bool) -> int | None:
        """How many processes of session ``sid`` the control shell killed; None if it could not kill them all."""
        try:
            return self._control.kill_session(sid, include_leader=include_leader) if self._control else None
        except ShellGone:
            return None

    def _recover_worker(self, notes: list[str]) -> None:
        try:
            self._start_worker(restore=True)
            notes.append(f"a new shell was started in {self._cwd}")
        except Exception:  # noqa: BLE001
            self.restart()
            notes.append(f"all processes of the sandbox were restarted; the shell is in {self._cwd}")

    @_daemon_errors
    def exec(self, command: str, timeout: float | None = None, *, workdir: str | None = None) -> CommandResult:
        """Run ``command`` with ``bash -c`` in a fresh `docker exec` (no shared state; the baseline)."""
        self._check_open()
        limit = self.config.command_timeout if timeout is None else float(timeout)
        t0 = time.monotonic()
        api = self.client.api
        cmd = ["timeout", "-k", "2", f"{limit:g}", "bash", "-c", command]
        exec_id = api.exec_create(self.container.id, cmd, stdout=True, stderr=True, stdin=False, tty=False,
                                  workdir=workdir or self.config.workdir, user=self.config.user)["Id"]
        capture = OutputCapture(self.config.output_limit)
        for chunk in api.exec_start(exec_id, stream=True, tty=False):
            capture.feed(chunk)
        exit_code = api.exec_inspect(exec_id).get("ExitCode")
        duration = time.monotonic() - t0
        text = capture.result().decode("utf-8", errors="replace")
        timed_out = exit_code in (124, 137) and duration >= limit - 0.05
        if timed_out and self.config.notes:
            text += f"{'' if not text or text.endswith(chr(10)) else chr(10)}[sandbox: the command timed out after {limit:g} seconds and was killed]\n"
            exit_code = TIMEOUT_EXIT_CODE
        return CommandResult(text, -1 if exit_code is None else exit_code, timed_out, capture.truncated, duration)

    # ------------------------------------------------------------------ files

    def _abspath(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.config.workdir, path))

    @_daemon_errors
    def read_file(self, path: str, *, binary: bool = False) -> str | bytes:
        """Contents of ``path`` (relative paths start at the workdir); text is decoded as UTF-8."""
        import docker.errors

        self._check_open()
        full = self._abspath(path)
        try:
            stream, _ = self.container.get_archive(full)
        except docker.errors.NotFound as exc:
            raise FileNotFoundError(f"{full} (in sandbox {self.id[:12]})") from exc
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            if member is None:
                raise FileNotFoundError(full)
            if member.isdir():
                raise IsADirectoryError(f"{full} (in sandbox {self.id[:12]})")
            if member.issym() or member.islnk():
                return self.read_file(posixpath.join(posixpath.dirname(full), member.linkname), binary=binary)
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
        return data if binary else data.decode("utf-8", errors="replace")

    @_daemon_errors
    def write_file(self, path: str, content: str | bytes, *, mode: int = 0o644) -> None:
        """Write ``content`` to ``path``, creating missing parent directories (mode 0755)."""
        self._check_open()
        full = self._abspath(path)
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(full.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        try:
            ok = self.container.put_archive("/", buf.getvalue())
        except Exception as exc:  # noqa: BLE001
            raise SandboxError(f"could not write {full} in sandbox {self.id[:12]}: {exc}") from exc
        if not ok:
            raise SandboxError(f"could not write {full} in sandbox {self.id[:12]}")

    @_daemon_errors
    def diff(self, base_commit: str | None = None, *, binary: bool = False) -> str:
        """``git diff`` of the workdir's repository against ``base_commit`` (default HEAD).

        Includes staged, unstaged and new untracked files (those not ignored by .gitignore),
        without touching the repository's own index. ``binary=True`` adds ``--binary`` so
        the patch also carries binary files.
        """
        self._check_open()
        base = base_commit or "HEAD"
        script = (
            "set -e; top=$(git rev-parse --show-toplevel); cd \"$top\"; "
            "idx=$(mktemp); trap 'rm -f \"$idx\"' EXIT; "
            "gi=$(git rev-parse --git-path index); if [ -f \"$gi\" ]; then cp \"$gi\" \"$idx\"; else rm -f \"$idx\"; fi; "
            "export GIT_INDEX_FILE=\"$idx\"; git add -A; "
            f"git -c core.quotepath=off diff --cached --no-color --no-ext-diff {'--binary ' if binary else ''}"
            f"{_shell_quote(base)} --"
        )
        api = self.client.api
        exec_id = api.exec_create(self.container.id, ["bash", "-c", script], stdout=True, stderr=True,
                                  workdir=self.config.workdir, user=self.config.user)["Id"]
        out, err = api.exec_start(exec_id, demux=True)
        code = api.exec_inspect(exec_id).get("ExitCode")
        if code != 0:
            detail = (err or b"").decode(errors="replace").strip() or (out or b"").decode(errors="replace").strip()
            raise RepositoryError(f"git diff against {base!r} failed in {self.config.workdir} (exit {code}): {detail}")
        return (out or b"").decode("utf-8", errors="replace")


_KILLED_NOTICE = re.compile(r"(?m)^bash: line \d+: +\d+ Killed .*\n(?: +\d+ +(?:Killed +)?\| .*\n)*")


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


# --------------------------------------------------------------------------- orphans


def _owner_gone(labels: dict[str, str]) -> bool:
    """True when the process that started a container is known to be dead (same host only)."""
    if labels.get(LABEL_OWNER_HOST) != socket.gethostname():
        return False
    try:
        pid = int(labels.get(LABEL_OWNER_PID, ""))
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    started = labels.get(LABEL_OWNER_START)
    now = _process_start_time(pid)
    return bool(started and now and started != now)  # the pid now belongs to another process


def reap(max_age: float | None = None, only_dead_owners: bool = True, *, client: Any = None) -> list[str]:
    """Remove srl-swe sandbox containers left behind, then snapshot images (``srl-swe.snapshot``) of owners that died
    (any, without ``only_dead_owners``); returns the ids removed.

    A container (running or stopped) carrying ``srl-swe.managed=true`` is removed when it is at
    least ``max_age`` seconds old (any age when None) and, with ``only_dead_owners``, when the
    process that started it is gone from this host (killed runner, crashed test). Call it at
    startup to clean up after killed runs.
    """
    client = client or _client()
    removed = []
    now = time.time()
    for container in client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL_MANAGED}=true"}):
        attrs = container.attrs
        labels = attrs.get("Labels") or {}
        if max_age is not None and now - float(attrs.get("Created", now)) < max_age:
            continue
        if only_dead_owners and not _owner_gone(labels):
            continue
        try:
            container.remove(force=True, v=True)
            removed.append(container.id)
            log.info("reaped sandbox container %s (owner pid %s)", container.id[:12], labels.get(LABEL_OWNER_PID))
        except Exception as exc:  # noqa: BLE001 - removed concurrently
            log.debug("could not reap %s: %s", container.id[:12], exc)
    for image in client.images.list(filters={"label": LABEL_SNAPSHOT}):  # snapshots of owners that died
        labels = image.labels or {}
        if not only_dead_owners or _owner_gone(labels):
            try:
                client.images.remove(image.id, force=True)
                removed.append(image.id)
            except Exception as exc:  # noqa: BLE001 - a container still uses it: the next reap
                log.debug("could not reap snapshot %s: %s", image.id[:19], exc)
    return removed
