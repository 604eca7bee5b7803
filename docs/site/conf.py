"""Sphinx configuration of the course website: ``make site`` builds it, offline, into ``site/``.

Sphinx + myst-nb render the repository's own files in place (source directory: the repository root; this
folder holds only configuration): the course map ``docs/course.md`` is the home page, then the README, every
walk-through notebook with the outputs stored in it (nothing is executed), the report template, the deviations
page and an API reference from the docstrings (autodoc). Nothing is fetched from a network, neither while
building nor while reading: formulas become MathML (``fuse_edu.report.mathml``, the same converter as the
HTML reports), the widget renderer is the package's vendored html-manager bundle, the theme (furo) ships its
own files, and remote images (badges) are shown as their text.
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes

import fuse_edu
from fuse_edu.report.mathml import to_mathml
from fuse_edu.report.offline import STATIC

project = "fuse_edu"
html_title = "FUSE, taught in notebooks"
release = version = fuse_edu.__version__
copyright = "the fuse_edu authors"

root_doc = "docs/course"
WALK_THROUGHS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9]*.ipynb"))
include_patterns = ["README.md", "docs/course.md", "docs/deviations.md", "docs/assignments.md", "docs/site/api.md",
                    *(f"notebooks/{name}.ipynb" for name in WALK_THROUGHS), "notebooks/report.ipynb"]
# pruned while Sphinx looks for sources (include_patterns alone would still walk the virtualenv); the assignment
# notebooks stay off the site because the repository's copies are the instructor's, solutions and hidden tests
# included (the instructor's guide, docs/assignments.md, holds none and is a page)
exclude_patterns = [".venv", "**/.venv", ".git", "site", "out", "build", "dist", "benchmarks", "tests", "scripts",
                    "fuse_edu", "notebooks/assignments", "**/.ipynb_checkpoints"]

extensions = ["myst_nb", "sphinx.ext.autodoc"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
myst_dmath_double_inline = True  # $$...$$ inside a paragraph or list item, as the notebooks write it
nb_execution_mode = "off"      # the stored outputs are the pages: the site shows what a run produced
nb_output_stderr = "remove"    # progress bars and warnings belong to a terminal, not to a page
nb_merge_streams = True
nb_ipywidgets_js = {"html-manager-embed.js": {}}  # stored widget state, rendered without a CDN
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_static_path = [str(STATIC)]
templates_path = ["_templates"]
html_additional_pages = {"index": "redirect.html"}  # the site's root opens the course map
html_show_sourcelink = False
html_math_renderer = "mathml"


def _source(app, docname: str, source: list[str]) -> None:
    """The course map carries the site's table of contents (hidden: the map itself says what each page is)."""
    if docname == root_doc:
        pages = ["/README", *(f"/notebooks/{name}" for name in WALK_THROUGHS), "/notebooks/report",
                 "/docs/deviations", "/docs/assignments", "/docs/site/api"]
        source[0] += "\n\n```{toctree}\n:hidden:\n:maxdepth: 1\n\n" + "\n".join(pages) + "\n```\n"


def _math(self, node) -> None:
    self.body.append(to_mathml(node.astext(), display=False))
    raise nodes.SkipNode


def _math_block(self, node) -> None:
    self.body.append(to_mathml(node.astext(), display=True))
    raise nodes.SkipNode


def _no_remote_images(app, doctree) -> None:
    """A remote image (a README badge) would be fetched by every reader: show its alt text instead."""
    for image in list(doctree.findall(nodes.image)):
        if image["uri"].startswith(("http://", "https://", "//")):
            image.replace_self(nodes.inline(text=image.get("alt", "")))


def _plain_bars(app, what, name, obj, options, lines: list[str]) -> None:
    """The docstrings are prose with ``literals``, never reST substitutions: a bar (GPT-2's <|endoftext|>, a
    norm |x|) is a bar."""
    def escape(line: str) -> str:  # bars inside ``literals`` stay as they are: reST does not read them there
        parts = re.split(r"(``.*?``)", line)
        return "".join(part if part.startswith("``") else part.replace("|", "\\|") for part in parts)

    lines[:] = [escape(line) for line in lines]


def setup(app):
    app.add_html_math_renderer("mathml", inline_renderers=(_math, None), block_renderers=(_math_block, None))
    app.connect("source-read", _source)
    app.connect("doctree-read", _no_remote_images)
    app.connect("autodoc-process-docstring", _plain_bars)
    return {"parallel_read_safe": True}
