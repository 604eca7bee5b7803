"""The report template: the papermill notebook ``notebooks/report.ipynb``, its parameters, and running it.

The template captions every image in a folder and shows each with its caption, a results table, the loss
curves, metrics against the toy world's truth when the folder has a ``captions.csv``, and the environment.
``build_report`` checks the input, runs the template (papermill, a per-cell timeout) and converts it into
one HTML file that opens offline (``notebook``, ``offline``), outputs only unless ``show_code``.

Parameters are the template's ``parameters`` cell (IMAGES, PRESET, METHOD, STRATEGY, STEPS, BUDGET, SEED,
SENTIMENT, VOCABULARY, ADAPTER, DEVICE, and N_SCENES: how many toy scenes to render when IMAGES is empty).
A name the template does not declare is refused with the declared
list, and a value is read as the type of its default (``STEPS 20`` is an int). Papermill directly, without ``fuse-edu report``::

    papermill notebooks/report.ipynb out/report.ipynb -p IMAGES "$PWD/scenes" -p STEPS 20 \\
        --execution-timeout 600

Give IMAGES as an absolute path: papermill runs the template in ``notebooks/``. Papermill itself checks no
names (an unknown one is injected and ignored, with a warning).
"""

from __future__ import annotations

import ast
from pathlib import Path

from fuse_edu.report.notebook import REPO_NOTEBOOKS

TEMPLATE = REPO_NOTEBOOKS / "report.ipynb"
DEFAULT_TIMEOUT_S = 600  # per cell; papermill has none by default


# ---------------------------------------------------------------------- parameters


def declared_parameters(template: str | Path = TEMPLATE) -> dict[str, object]:
    """{name: default value} of the template's ``parameters`` cell, read by papermill's ``inspect_notebook``."""
    from papermill import inspect_notebook

    declared = inspect_notebook(str(template))
    if not declared:
        raise ValueError(f"{template} has no cell tagged 'parameters'; it is not a report template")
    return {name: ast.literal_eval(p["default"]) for name, p in declared.items()}


def parse_value(name: str, text: str, default: object) -> object:
    """``text`` read as the type of ``default``: int, float, bool or str; a None default takes a Python
    literal (``2000``, ``None``) or else the text itself. A ValueError names the parameter and the type."""
    if isinstance(default, bool):
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"parameter {name} expects True or False, got {text!r}")
        return lowered == "true"
    if isinstance(default, (int, float)):
        kind = type(default)
        try:
            return kind(text)
        except ValueError:
            what = "an int" if kind is int else "a number"
            raise ValueError(f"parameter {name} expects {what}, got {text!r}") from None
    if default is None:
        if text == "None":
            return None
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        return value if isinstance(value, (int, float, str)) else text
    return text


def check_names(names, declared: dict[str, object]) -> None:
    """A ValueError naming every parameter the template does not declare, and listing the declared ones."""
    unknown = sorted(set(names) - set(declared))
    if unknown:
        raise ValueError(f"the report template does not declare {', '.join(unknown)}; "
                         f"declared parameters: {', '.join(declared)}")


def resolve_parameters(pairs: list[tuple[str, str]], declared: dict[str, object]) -> dict[str, object]:
    """``-p NAME VALUE`` pairs as values of their defaults' types; undeclared names are refused (``check_names``)."""
    check_names([name for name, _ in pairs], declared)
    return {name: parse_value(name, text, declared[name]) for name, text in pairs}


# ---------------------------------------------------------------------- the run


def build_report(images: str | Path, out_html: str | Path, parameters: dict | None = None,
                 template: str | Path = TEMPLATE, timeout_s: int = DEFAULT_TIMEOUT_S,
                 progress: bool = True, show_code: bool = False) -> Path:
    """Check the input, run the template on the images in ``images`` and write ``out_html``: its outputs only,
    unless ``show_code``.

    ValueError: no images, an unreadable one, or a parameter the template does not declare.
    ``fuse_edu.report.NotebookFailed``: the template failed; the HTML showing the failure is written.
    """
    from fuse_edu.captioning import find_images
    from fuse_edu.report.notebook import render_notebook

    folder = Path(images)
    if not folder.is_dir():
        raise ValueError(f"IMAGES must be a folder of images, got {str(images)!r}")
    find_images([folder])  # an empty folder or an unreadable image fails here, in a second, before any model loads
    declared = declared_parameters(template)
    parameters = dict(parameters or {})
    check_names(parameters, declared)
    parameters["IMAGES"] = str(folder.resolve())  # papermill runs the template in its own folder
    return render_notebook(template, out_html, parameters, timeout_s=timeout_s, show_code=show_code,
                           progress=progress)
