"""The ``fuse-edu`` command line as a whole (``fuse_edu.cli``): its commands, ``--version``, ``python -m fuse_edu``,
and the one-line error path. Each command has its own file: test_cli_<command>.py."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import fuse_edu
from fuse_edu.cli import build_parser, main
from tests.support import run_cli

ROOT = Path(__file__).resolve().parent.parent


def test_the_package_version_is_the_project_s():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert fuse_edu.__version__ == project["version"] == "0.1.0"
    assert project["scripts"]["fuse-edu"] == "fuse_edu.cli:main"


def test_python_dash_m_fuse_edu_prints_the_version_and_exits_0():
    done = subprocess.run([sys.executable, "-m", "fuse_edu", "--version"], capture_output=True, text=True,
                          timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"fuse-edu {fuse_edu.__version__}" == "fuse-edu 0.1.0"
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_installed_command_exits_2_without_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "fuse_edu", "caption", str(tmp_path / "nope.png")],
                          capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 2
    assert "nope.png does not exist" in done.stderr and "Traceback" not in done.stderr


def test_version_in_process(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == "fuse-edu 0.1.0"


def test_every_command_is_registered_and_a_command_is_required(capsys):
    commands = build_parser()._subparsers._group_actions[0].choices
    assert set(commands) == {"demo", "toyworld", "caption", "report", "assignments", "notebooks"}
    code, _, err = run_cli(capsys)
    assert code == 2 and "the following arguments are required: command" in err
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "fuse-edu demo --out out/" in out


def test_a_path_that_cannot_be_written_is_one_line_on_stderr_and_exit_2(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    code, _, err = run_cli(capsys, "toyworld", "render", "--n", "1", "--out", tmp_path / "a_file")
    assert code == 2 and err.startswith("fuse-edu: error:") and len(err.strip().splitlines()) == 1


def test_an_interrupt_is_exit_130(monkeypatch, capsys):
    import fuse_edu.cli.toyworld

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fuse_edu.cli.toyworld, "render_to_folder", interrupted)
    assert main(["toyworld", "render", "--n", "1", "--out", "unused"]) == 130
    assert "fuse-edu: interrupted" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["caption", "--help"], ["demo", "--help"], ["report", "--help"],
                                  ["assignments", "check", "--help"], ["toyworld", "render", "--help"]])
def test_every_command_explains_itself(capsys, argv):
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0 and "usage: fuse-edu " + argv[0] in out


@pytest.mark.parametrize("flags, bars", [([], False), (["--quiet"], False), (["--verbose"], True)])
def test_quiet_and_verbose_decide_every_command_s_progress_bars(monkeypatch, flags, bars):
    import fuse_edu.cli.demo

    seen = {}
    monkeypatch.setattr(fuse_edu.cli.demo, "run_demo", lambda args: seen.update(no_progress=args.no_progress) or 0)
    assert main([*flags, "demo"]) == 0
    assert seen["no_progress"] is (not bars)  # pytest's stderr is not a terminal: bars only under --verbose


def test_quiet_and_verbose_exclude_each_other(capsys):
    code, _, err = run_cli(capsys, "--quiet", "--verbose", "demo")
    assert code == 2 and "not allowed with argument" in err


def test_an_asset_that_cannot_be_installed_is_one_line_and_exit_2(monkeypatch, capsys):
    import fuse_edu.cli.toyworld
    from fuse_edu.text import MissingAssetError

    def missing(*args, **kwargs):
        raise MissingAssetError("the offline 'clip' tokenizer needs ...; run: python -m fuse_edu.install_assets")

    monkeypatch.setattr(fuse_edu.cli.toyworld, "render_to_folder", missing)
    assert main(["toyworld", "render", "--n", "1", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fuse-edu: error:") and err.strip().endswith("-m fuse_edu.install_assets")
    assert len(err.strip().splitlines()) == 1
