"""environment.yml, pyproject.toml and scripts/setup.sh must describe one environment."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_environment_yml_installs_the_project_and_the_same_assets_as_setup():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    minimum = re.search(r">=\s*3\.(\d+)", project["requires-python"]).group(1)
    assert int(python.split("=")[1].split(".")[1]) >= int(minimum)
    pip_lines = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert '-e ".[dev]"' in pip_lines, "environment.yml must install this project with its dev extra"
    assets_yml = set(pip_lines[pip_lines.index("--no-deps") + 1:])
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assets_sh = set(re.search(r"install --quiet --no-deps (.+)", setup).group(1).split())
    assert assets_yml == assets_sh
