"""The grading kernel's isolation (``fuse_edu.assignments.kernel``, ``kernel_guard``): what the guard refuses,
that stopping the kernel ends every process it started, no network where namespaces are available, and a bad
timeout refused. Runs kernels: ``slow`` (except the timeout check)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fuse_edu.assignments import check_timeout
from fuse_edu.assignments.kernel import GradingKernel, isolation
from tests.test_grading_cheats import cmdline


@pytest.mark.parametrize("bad", [0, -5, float("nan"), float("inf"), "3"])
def test_a_timeout_must_be_seconds_above_zero(bad):
    with pytest.raises(ValueError, match="timeout must be a number of seconds > 0"):
        check_timeout(bad)


@pytest.mark.slow
def test_the_guard_refuses_references_processes_outside_files_and_object_walks(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    notebook = tmp_path / "elsewhere.ipynb"
    notebook.write_text("{}")
    refused = {
        "reference": "tprod(torch.ones(1, 1, 1), torch.ones(1, 1, 1))",
        "held elsewhere": "import fuse_edu.adapter.fuse_adapter as fa; fa.ttranspose(torch.ones(1, 1, 1))",
        "reload": "import importlib, fuse_edu.tensor as T; importlib.reload(T)",
        "source": "import fuse_edu.tensor as T; open(T.__file__).read()",
        "process": "import subprocess; subprocess.Popen(['true'])",
        "fork": "import os; os.fork()",
        "write outside": f"open({str(tmp_path / 'x.txt')!r}, 'w')",
        "notebook outside": f"open({str(notebook)!r})",
        "rename outside": f"import os; os.rename({str(notebook)!r}, 'here.ipynb')",
        "object walk": "import gc; gc.get_objects()",
        "ctypes": "import ctypes; ctypes.CDLL(None)",
        "signal": "import os; os.kill(os.getppid(), 9)",
        "aliased reference path": "import fuse_edu.tensor as T; open('/proc/self/root' + T.__file__).read()",
        "patched os.path": f"import os.path, posixpath\nos.path.realpath = posixpath.normpath = lambda p: "
                           f"{str(work)!r}\nopen({str(tmp_path / 'x.txt')!r}, 'w')",
        "two-faced path": f"class P:\n    n = 0\n    def __fspath__(self):\n        P.n += 1\n"
                          f"        return {str(tmp_path / 'x.txt')!r} if P.n % 2 else 'inside.txt'\nopen(P(), 'w')",
        "link out": f"import os; os.symlink({str(notebook)!r}, 'link.ipynb')",
        "folder descriptor": f"import os; os.open({str(tmp_path)!r}, os.O_RDONLY)",
        "fresh _posixsubprocess": "import importlib.util, _posixsubprocess as p\n"
                                  "importlib.util.module_from_spec(importlib.util.spec_from_file_location(p.__name__, "
                                  "p.__file__))",
    }
    with GradingKernel(work) as kernel:
        assert kernel.execute("import torch\nfrom fuse_edu.tensor import tprod", 60).status == "ok"
        install = (f"from fuse_edu.assignments import kernel_guard\nkernel_guard.install("
                   f"['fuse_edu.tensor:tprod', 'fuse_edu.tensor:ttranspose'], {str(work)!r})")
        assert kernel.execute(install, 60).status == "ok"
        for what, code in refused.items():
            reply = kernel.execute(code, 30)
            assert reply.error.startswith("PermissionError"), (what, reply)
        assert "without encryption" not in kernel.log()  # IPC sockets, not TCP: ipykernel has nothing to warn of
        unaudited = kernel.execute("import _posixsubprocess; _posixsubprocess.fork_exec", 30)
        assert unaudited.error == "AttributeError: module '_posixsubprocess' has no attribute 'fork_exec'"
        allowed = kernel.execute("open('mine.txt', 'w').write('ok'); print(open('mine.txt').read(), "
                                 "torch.fft.fft(torch.ones(4)).real.sum().item())", 30)
        assert allowed.status == "ok" and allowed.stdout == "ok 4.0\n", allowed
    assert notebook.read_text() == "{}" and not (tmp_path / "x.txt").exists()


@pytest.mark.slow
@pytest.mark.skipif(isolation() != "namespaces", reason="needs unshare (user, network and PID namespaces)")
def test_stopping_the_kernel_ends_what_it_started_and_there_is_no_network(tmp_path):
    marker = f"fuse-edu-isolation-{os.getpid()}"
    with GradingKernel(tmp_path) as kernel:
        started = kernel.execute("import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', "
                                 f"'import time; time.sleep(120)', {marker!r}], start_new_session=True)", 60)
        assert started.status == "ok", started
        network = kernel.execute("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)", 30)
        assert network.error.startswith(("OSError", "ConnectionRefusedError")), network
        assert "Network is unreachable" in network.error or "unreachable" in network.error.lower()
        assert any(marker in cmdline(p) for p in Path("/proc").iterdir() if p.name.isdigit())
    assert not any(marker in cmdline(p) for p in Path("/proc").iterdir() if p.name.isdigit())
