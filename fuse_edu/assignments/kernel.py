"""A notebook kernel for grading one submission: isolated, time-limited, and ended with everything it started.

``GradingKernel(workdir)`` starts ``python -m ipykernel_launcher`` with its working directory ``workdir`` (a
throwaway folder holding a copy of the submission only) and talks to it over IPC sockets in a private folder:
no TCP port is opened, so ipykernel's "running over TCP without encryption" warning never appears.

Isolation the platform allows (``isolation()`` says which applies): where ``unshare`` can make user, network
and PID namespaces, the kernel runs with no network at all and as PID 1 of its own namespace, so when it ends
every process it started ends too, even one that left its session. Elsewhere the kernel runs in a new session
and its process group is killed. Either way ``stop()`` kills it (with namespaces, it returns once no process
of the namespace is left); the kernel's own guard (``kernel_guard``) also refuses to start processes.

``execute(code, timeout_s)`` returns a ``Reply``; it raises ``CellTimeout`` after ``timeout_s`` seconds and
``KernelDied`` when the kernel process ends (``os._exit``, a crash): the caller restarts it for the next item.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT_S = 60
_UNSHARE = ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child"]


class KernelDied(RuntimeError):
    pass


class CellTimeout(RuntimeError):
    pass


@functools.lru_cache(maxsize=1)
def isolation() -> str:
    """"namespaces" (no network; every process ends with the kernel) where ``unshare`` works, else "session"."""
    if shutil.which("unshare") is None:
        return "session"
    try:
        done = subprocess.run([*_UNSHARE, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "session"
    return "namespaces" if done.returncode == 0 else "session"


def _pid_namespace_for_children(pid: int) -> str | None:
    """The PID namespace ``unshare`` (process ``pid``) made for its child; None where /proc does not say."""
    for _ in range(100):  # unshare makes the namespace right after it starts
        with contextlib.suppress(OSError):
            namespace = os.readlink(f"/proc/{pid}/ns/pid_for_children")
            if namespace != os.readlink("/proc/self/ns/pid"):
                return namespace
        time.sleep(0.01)
    return None


def _namespace_members(namespace: str) -> list[int]:
    """The live processes of this user in PID namespace ``namespace``."""
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry.name}/ns/pid") == namespace:
                    with open(f"/proc/{entry.name}/stat") as stat:
                        if stat.read().rsplit(")", 1)[1].split()[0] != "Z":  # a zombie is already gone
                            members.append(int(entry.name))
    return members


@dataclass
class Reply:
    status: str                                   # "ok" or "error"
    error: str = ""                               # "ename: evalue" when status is "error"
    data: list[dict] = field(default_factory=list)  # the data of every display_data / execute_result
    stdout: str = ""


class GradingKernel:
    """One kernel process (module docstring). Use as a context manager, or call ``start`` and ``stop``."""

    def __init__(self, workdir: str | Path):
        self.workdir = Path(workdir).resolve()
        self.process: subprocess.Popen | None = None
        self._pid_namespace: str | None = None
        self.client = None
        self._private: str | None = None

    def __enter__(self) -> "GradingKernel":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        from jupyter_client import BlockingKernelClient
        from jupyter_client.connect import write_connection_file

        self._private = tempfile.mkdtemp(prefix="fuse-edu-kernel-")
        connection, _ = write_connection_file(os.path.join(self._private, "kernel.json"), transport="ipc",
                                              ip=os.path.join(self._private, "socket"))
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
                   IPYTHONDIR=os.path.join(self._private, "ipython"), TMPDIR=str(self.workdir),
                   MPLBACKEND="agg", JPY_PARENT_PID="")
        prefix = _UNSHARE if isolation() == "namespaces" else []
        command = [*prefix, sys.executable, "-m", "ipykernel_launcher", "-f", connection,
                   "--HistoryManager.enabled=False"]
        with open(os.path.join(self._private, "kernel.log"), "wb") as log:
            self.process = subprocess.Popen(command, cwd=self.workdir, env=env, start_new_session=True,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self._pid_namespace = _pid_namespace_for_children(self.process.pid) if prefix else None
        self.client = BlockingKernelClient(connection_file=connection)
        self.client.load_connection_file()
        self.client.start_channels()
        try:
            self.client.wait_for_ready(timeout=START_TIMEOUT_S)
        except RuntimeError as error:
            last = (self.log().strip().splitlines() or [""])[-1][:300]
            self.stop()
            raise KernelDied(f"the grading kernel did not start: {error} {last}".strip()) from None

    def log(self) -> str:
        """What the kernel process wrote on its stdout and stderr so far (ipykernel's own log)."""
        try:
            return Path(self._private, "kernel.log").read_text(errors="replace")
        except (OSError, TypeError):
            return ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def execute(self, code: str, timeout_s: float) -> Reply:
        """Run ``code``; collect its displays, stdout and error (module docstring for the exceptions)."""
        if not self.alive():
            raise KernelDied("the kernel is not running")
        msg_id = self.client.execute(code, store_history=False, allow_stdin=False, silent=False)
        deadline = time.monotonic() + timeout_s
        reply, stdout = Reply("ok"), []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CellTimeout(f"timed out after {timeout_s:g} s")
            try:
                msg = self.client.get_iopub_msg(timeout=min(remaining, 0.2))
            except queue.Empty:
                if not self.alive():
                    raise KernelDied("the kernel died") from None
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind in ("display_data", "execute_result"):
                reply.data.append(content.get("data", {}))
            elif kind == "stream" and content.get("name") == "stdout":
                stdout.append(content.get("text", ""))
            elif kind == "error":
                name, value = content.get("ename", "Error"), str(content.get("evalue", "")).strip()
                reply.status, reply.error = "error", f"{name}: {value}" if value else name
            elif kind == "status" and content.get("execution_state") == "idle":
                break
        reply.stdout = "".join(stdout)
        return reply

    def stop(self) -> None:
        """End the kernel and everything in its process group (and namespace); remove its sockets."""
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait()
            self.process = None
        if self._pid_namespace is not None:  # the namespace's end is asynchronous: wait until it is empty
            deadline = time.monotonic() + 10
            while (members := _namespace_members(self._pid_namespace)) and time.monotonic() < deadline:
                for pid in members:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.02)
            self._pid_namespace = None
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
            self._private = None
