"""A fresh virtual environment outside the repository, for the tests of what a user installs.

``built_wheel()`` builds this checkout's wheel once per test session (``pip wheel --no-deps
--no-build-isolation``). ``fresh_venv(folder)`` makes a venv that lacks fuse_edu but can import its
dependencies: a ``.pth`` file lists this environment's site-packages, so torch and the rest are not installed
again. A folder listed by a ``.pth`` file has its own ``.pth`` files ignored, so the editable install of this
checkout stays invisible there. ``hide`` leaves some of them out (a folder of links to the others), to see
what a user without them gets. ``run(...)`` runs a command from another folder with that venv first on PATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_built: dict[str, Path] = {}


def built_wheel(out: Path) -> Path:
    """This checkout's wheel, built into ``out`` the first time a session asks."""
    if "wheel" not in _built:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "--disable-pip-version-check", "-w", str(out), str(ROOT)], check=True, timeout=300)
        _built["wheel"] = next(out.glob("fuse_edu-*.whl"))
    return _built["wheel"]


def fresh_venv(folder: Path, hide: tuple[str, ...] = ()) -> Path:
    """A venv at ``folder`` without fuse_edu and without pip of its own (this environment's pip is importable
    through the ``.pth`` file); its python. Entries of this environment's site-packages whose name starts with
    one of ``hide`` (a module and its ``.dist-info``) stay invisible."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    dependencies = Path(sysconfig.get_paths()["purelib"])
    if hide:
        linked = folder / "dependencies"
        linked.mkdir()
        for entry in dependencies.iterdir():
            if not entry.name.startswith(hide):
                (linked / entry.name).symlink_to(entry)
        dependencies = linked
    python = folder / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "fuse_edu_test_dependencies.pth").write_text(f"{dependencies}\n")
    return python


def venv_env(python: Path) -> dict[str, str]:
    """The environment for commands in that venv: its bin/ first on PATH, no PYTHONPATH into the checkout,
    offline, and nbconvert's templates from this environment's share/jupyter, where they were installed."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}", HF_HUB_OFFLINE="1",
               JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def run(python: Path, args: list, cwd: Path, timeout: int = 300, **env) -> subprocess.CompletedProcess:
    """``args`` (a command in the venv's bin/, or ``python``'s arguments when args[0] == "python") from ``cwd``."""
    command = [str(python), *map(str, args[1:])] if args[0] == "python" else [str(python.parent / args[0]),
                                                                              *map(str, args[1:])]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**venv_env(python), **env})
