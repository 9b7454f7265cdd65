"""A persistent bash session inside a running container, driven over one `docker exec` socket.

One long-lived ``bash`` reads commands from the exec's stdin; each command is written as one
wrapped line and its output (stdout and stderr merged, in order) comes back on the same socket,
ended by a line carrying a unique sentinel, the exit status and the shell's working directory.
Because the command runs in the shell itself (``eval``), ``cd``, ``export`` and shell variables
persist between commands, as in OpenHands' bash session; because it runs with ``</dev/null``,
a command that reads stdin gets EOF at once and never steals the next command.

A second, idle bash session (the *control* session) is kept for recovery: on a timeout it kills
every process of the worker's session except the shell itself, using bash builtins only (no
fork), so it works even when a fork bomb has used up the container's pids limit.

This module knows nothing about container lifecycles; :mod:`srl_swe.sandbox.runtime` owns them.
"""
from __future__ import annotations

import select
import socket
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any

STATE_FILE = "/tmp/.srl-swe-shell-env"
"""Where the worker shell saves its exported environment after every command (restored on restart)."""

_HEADER = struct.Struct(">BxxxL")
_RECV_SIZE = 1 << 18

# Defined once in each shell (read-only: a command cannot redefine them). `__srl_ep` ends every command: exit
# status, saved environment, then the sentinel line. Builtins only, so it works when no new process can be forked.
_PRELUDE = r"""exec 2>&1
__srl_ep() { local ec=$?; %(save)sbuiltin printf '\n%%s %%d %%s\n' "$1" "$ec" "$PWD"; }
__srl_killsess() {
  local sid=$1 all=$2 n=0 pass d p line rest pids
  for ((pass = 0; pass < 200; pass++)); do
    pids=()
    for d in /proc/[0-9]*; do
      p=${d#/proc/}
      [[ $p == "$$" ]] && continue
      [[ $p == "$sid" && $all != 1 ]] && continue
      read -r line 2>/dev/null <"$d/stat" || continue
      rest=${line##*) }
      set -f; set -- $rest; set +f
      [[ $4 == "$sid" && $1 != Z ]] && pids+=("$p")
    done
    ((${#pids[@]})) || { echo "killed $n"; return 0; }
    n=$((n + ${#pids[@]}))
    kill -9 "${pids[@]}" 2>/dev/null
  done
  echo "killed $n"
  return 1
}
__srl_open() {
  if [[ -x $__srl_perl ]] && { exec 250> >(exec "$__srl_perl" -e "$__srl_relay" "$__srl_arch" 2>/dev/null); } 2>/dev/null; then
    builtin printf '%%s\n' "$1" >&250
  else
    exec 250>&1
  fi
}
readonly -f __srl_ep __srl_killsess __srl_open
hash perl 2>/dev/null && __srl_perl=${BASH_CMDS[perl]}
readonly __srl_perl __srl_arch=$HOSTTYPE __srl_relay=%(relay)s
"""

# The output relay of a worker shell's commands, one per command (a perl one-liner: perl-base is essential on Debian
# and Ubuntu). The command writes to a pipe whose first line, written by the shell before the command starts, is the
# sentinel; the relay forwards everything up to and including the sentinel line, then drops what background processes
# still write until the last of them closes the pipe. So late output is never mixed into a later command's output.
# It leaves its parent at once (so a plain `wait` in a command never waits for it) and its session (so killing the
# command's session after a timeout spares it, and the shell's sentinel still has a reader), with the raw setsid
# system call of the shell's architecture ($HOSTTYPE at start) where known: perl's POSIX module would quadruple its
# start-up time.
_RELAY = r"""
exit 0 if fork // 0;
my $setsid = {x86_64 => 112, aarch64 => 157, riscv64 => 157, i386 => 66, i686 => 66, ppc64le => 66, s390x => 66}->{$ARGV[0]};
if ($setsid) { syscall($setsid) } else { require POSIX; POSIX::setsid() }
sub put { my $o = 0; while ($o < length $_[0]) { my $n = syswrite(STDOUT, $_[0], length($_[0]) - $o, $o); exit 1 unless defined $n; $o += $n } }
my ($buf, $chunk) = ("", "");
while (index($buf, "\n") < 0) { sysread(STDIN, $chunk, 65536) or exit 0; $buf .= $chunk }
my $end = "\n" . substr($buf, 0, index($buf, "\n")) . " ";
substr($buf, 0, index($buf, "\n") + 1) = "";
while (1) {
  my $i = index($buf, $end);
  my $eol = $i < 0 ? -1 : index($buf, "\n", $i + length $end);
  if ($eol >= 0) {
    put(substr($buf, 0, $eol + 1));
    open(STDOUT, ">", "/dev/null");
    1 while sysread(STDIN, $chunk, 65536);
    exit 0;
  }
  my $k = $i < 0 ? length($buf) - length($end) + 1 : $i;
  if ($k > 0) { put(substr($buf, 0, $k)); substr($buf, 0, $k) = ""; }
  sysread(STDIN, $chunk, 65536) or last;
  $buf .= $chunk;
}
put($buf);
"""


@dataclass(frozen=True)
class ShellOutput:
    """What one command wrote and how it ended, as the shell session saw it."""

    output: bytes
    """Head and tail of the output (stdout and stderr merged), with a truncation marker between."""
    exit_code: int | None
    """The command's exit status; None when the command did not finish (timeout, shell gone)."""
    cwd: str | None
    """The shell's working directory after the command; None when it did not finish."""
    total_bytes: int
    """How many output bytes the command wrote in all."""
    truncated: bool
    """Part of the output was dropped to stay within the budget."""
    timed_out: bool = False
    """The deadline passed before the command finished."""
    shell_exited: bool = False
    """The shell itself went away (``exit``, ``exec``, killed): the session must be restarted."""


class ShellGone(Exception):
    """The shell's stream ended: the bash process exited or was killed."""


class OutputCapture:
    """Keeps the first and last bytes of a stream within a budget; counts the rest."""

    def __init__(self, limit: int):
        self.head_limit = max(limit // 2, 0)
        self.tail_limit = max(limit - self.head_limit, 0)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > 2 * self.tail_limit + _RECV_SIZE:
                del self.tail[: len(self.tail) - self.tail_limit]

    @property
    def truncated(self) -> bool:
        return self.total > self.head_limit + self.tail_limit

    def result(self) -> bytes:
        if not self.truncated:
            return bytes(self.head + self.tail)
        tail = self.tail[len(self.tail) - self.tail_limit :] if self.tail_limit else b""
        omitted = self.total - len(self.head) - len(tail)
        marker = (
            f"\n\n[... output truncated: {omitted} of {self.total} bytes omitted "
            f"(kept the first {len(self.head)} and the last {len(tail)}) ...]\n\n"
        ).encode()
        return bytes(self.head) + marker + bytes(tail)


class ExecStream:
    """A hijacked `docker exec` connection: write stdin, read the demultiplexed stdout/stderr."""

    def __init__(self, api: Any, exec_id: str, sock: Any):
        self.api = api
        self.exec_id = exec_id
        self._io = sock  # keeps docker-py's SocketIO (and so the connection) alive
        self.sock: socket.socket = getattr(sock, "_sock", sock)
        self.sock.setblocking(True)
        self._buf = bytearray()
        self.eof = False

    @classmethod
    def open(cls, api: Any, container_id: str, cmd: list[str], *, workdir: str | None = None,
             environment: dict[str, str] | None = None, user: str = "") -> "ExecStream":
        exec_id = api.exec_create(container_id, cmd, stdin=True, stdout=True, stderr=True, tty=False,
                                  workdir=workdir, environment=environment, user=user)["Id"]
        sock = api.exec_start(exec_id, socket=True, tty=False)
        return cls(api, exec_id, sock)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:  # broken pipe: the process is gone
            self.eof = True
            raise ShellGone(str(exc)) from exc

    def read(self, deadline: float) -> bytes | None:
        """Payload bytes of every complete frame available before ``deadline``.

        Returns None when the deadline passed with nothing to read; raises ShellGone at EOF.
        """
        while True:
            out = self._frames()
            if out:
                return out
            if self.eof:
                raise ShellGone("exec stream closed")
            wait = deadline - time.monotonic()
            if wait <= 0:
                return None
            pending = getattr(self.sock, "pending", None)  # TLS (tcp+tls DOCKER_HOST) buffers records
            if not (pending and pending()):
                ready, _, _ = select.select([self.sock], [], [], wait)
                if not ready:
                    return None
            try:
                chunk = self.sock.recv(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                continue
            self._buf += chunk

    def _frames(self) -> bytes:
        buf, pos, out = self._buf, 0, bytearray()
        while len(buf) - pos >= 8:
            _, size = _HEADER.unpack_from(buf, pos)
            if len(buf) - pos - 8 < size:
                break
            out += buf[pos + 8 : pos + 8 + size]
            pos += 8 + size
        if pos:
            del buf[:pos]
        return bytes(out)

    def exit_code(self, wait: float = 2.0) -> int | None:
        """The exec'd process's exit status, waiting up to ``wait`` s for Docker to record it."""
        deadline = time.monotonic() + wait
        while True:
            try:
                info = self.api.exec_inspect(self.exec_id)
            except Exception:  # noqa: BLE001 - container gone: no status to report
                return None
            if not info.get("Running") or time.monotonic() > deadline:
                return info.get("ExitCode")
            time.sleep(0.02)

    def close(self) -> None:
        self.eof = True
        for closer in (getattr(self._io, "close", None), self.sock.close):
            try:
                if closer:
                    closer()
            except OSError:
                pass


def _quote(text: str) -> str:
    """Single-quote ``text`` for bash (newlines included)."""
    return "'" + text.replace("'", "'\\''") + "'"


class ShellSession:
    """One persistent ``bash`` in a container. Not thread-safe: one command at a time."""

    def __init__(self, api: Any, container_id: str, *, workdir: str | None = None,
                 environment: dict[str, str] | None = None, new_session: bool = True,
                 restore_from: str | None = None, user: str = "", start_timeout: float = 30.0):
        """Start the shell.

        ``new_session`` runs it under ``setsid`` so that it and everything it starts share one
        session id (the shell's pid), which :meth:`kill_session` targets; such a (worker) shell
        also saves its exported environment to :data:`STATE_FILE` after every command. ``restore_from`` is the
        directory to return to after a restart; the environment saved in :data:`STATE_FILE` is
        then sourced too.
        """
        cmd = ["bash", "--noprofile", "--norc"]
        if new_session:
            cmd = ["setsid", "-w", *cmd]
        self.stream = ExecStream.open(api, container_id, cmd, workdir=workdir, environment=environment, user=user)
        save = f"builtin export -p 2>/dev/null >| {STATE_FILE}; " if new_session else ""
        init = _PRELUDE % {"save": save, "relay": _quote(_RELAY)}
        if restore_from is not None:
            init += f". {STATE_FILE} >/dev/null 2>&1; cd -- {_quote(restore_from)} 2>/dev/null\n"
        init += "echo $$"
        result = self._call(init, timeout=start_timeout, limit=4096)
        if result.exit_code is None:
            self.close()
            raise ShellGone(f"the shell did not start: {result.output.decode(errors='replace')!r}")
        self.pid = int(result.output.split()[-1])
        self.cwd: str | None = result.cwd

    def run(self, command: str, *, timeout: float, limit: int) -> ShellOutput:
        """Run ``command`` in the shell; stop waiting at ``timeout`` seconds (the command keeps running)."""
        return self._call(f"{{ eval {_quote(command)}\n}} </dev/null", timeout=timeout, limit=limit, relay=True)

    def _call(self, wrapped: str, *, timeout: float, limit: int, relay: bool = False) -> ShellOutput:
        self._sentinel = f"__SRL_SWE_{uuid.uuid4().hex}__".encode()
        self._capture = OutputCapture(limit)
        self._pending = bytearray()
        # The command and its end on one line: bash has read the sentinel (and nothing is left queued on its stdin)
        # before the command starts, so the command can neither read the sentinel from the pipe nor swallow what
        # follows. The leading `:` line absorbs the parser state bash 5.2 leaves after a syntax error in `eval`
        # (its next line's `{` is otherwise not a reserved word).
        # With `relay`, the command and its end line go through the relay on fd 250 (`__srl_open`), which drops
        # what background processes write after the end line.
        sentinel = self._sentinel.decode()
        line = f"__srl_open {sentinel}; {wrapped} >&250 2>&1; __srl_ep {sentinel} >&250; exec 250>&-" if relay else \
            f"{wrapped}; __srl_ep {sentinel}"
        self.stream.send(f":\n{line}\n".encode())
        return self.wait(timeout)

    def wait(self, timeout: float) -> ShellOutput:
        """Keep reading the current command's output for up to ``timeout`` seconds."""
        needle = b"\n" + self._sentinel + b" "
        keep = len(needle) - 1
        deadline = time.monotonic() + timeout
        capture, pending = self._capture, self._pending
        while True:
            try:
                data = self.stream.read(deadline)
            except ShellGone:
                capture.feed(pending)
                pending.clear()
                return self._result(None, None, shell_exited=True)
            if data is None:
                return self._result(None, None, timed_out=True)
            pending += data
            idx = pending.find(needle)
            if idx < 0:
                if len(pending) > keep:
                    capture.feed(memoryview(pending)[: len(pending) - keep])
                    del pending[: len(pending) - keep]
                continue
            end = pending.find(b"\n", idx + len(needle))
            if end < 0:
                continue  # the rest of the sentinel line is still on its way
            capture.feed(pending[:idx])
            code, _, cwd = bytes(pending[idx + len(needle) : end]).decode(errors="replace").partition(" ")
            pending.clear()  # anything after the sentinel came from background jobs: dropped
            self.cwd = cwd
            return self._result(int(code), cwd)

    def _result(self, code: int | None, cwd: str | None, **flags: bool) -> ShellOutput:
        cap = self._capture  # unfinished: include the bytes held back while looking for the sentinel
        return ShellOutput(cap.result() + (bytes(self._pending) if code is None else b""), code, cwd,
                           cap.total + (len(self._pending) if code is None else 0), cap.truncated, **flags)

    def kill_session(self, sid: int, *, include_leader: bool, timeout: float = 5.0) -> int | None:
        """SIGKILL every process of session ``sid`` (its leader too if asked). For the control session.

        Returns how many processes were killed, or None when they could not all be killed in time.
        """
        result = self._call(f"__srl_killsess {sid} {int(include_leader)}", timeout=timeout, limit=4096)
        if result.exit_code != 0:
            return None
        return int(result.output.split()[-1])

    @property
    def alive(self) -> bool:
        return not self.stream.eof

    def close(self) -> None:
        self.stream.close()
