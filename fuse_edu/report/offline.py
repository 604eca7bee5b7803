"""The one offline HTML exporter behind ``fuse-edu report`` and ``fuse-edu demo --notebook``.

Contract: ``export_html(nb, show_code)`` returns one self-contained HTML document that fetches nothing from
any network host when opened, so it can be mailed or moved as a single file:

- nbconvert's lab template, without the require.js, MathJax and mermaid it loads from a CDN;
- formulas (``$...$`` and ``$$...$$`` in Markdown cells and Markdown outputs, ``text/latex`` outputs) turned
  into MathML at export (``mathml``), which browsers render natively;
- widgets rendered from the widget state the run stored (nbclient's ``store_widget_state``) by the vendored
  ``@jupyter-widgets/html-manager`` bundle (``static/``, BSD-3-Clause), inlined only when the notebook has
  widget state because it adds about 1.9 MB; a widget view whose state was not stored says so instead of
  showing ``VBox(children=...)``;
- code cells hidden unless ``show_code``: a report reads as its outputs.
"""

from __future__ import annotations

import copy
from pathlib import Path

from fuse_edu.report.mathml import protect_math, restore_math, to_mathml

STATIC = Path(__file__).resolve().parent / "static"
WIDGET_BUNDLE = STATIC / "html-manager-embed.js"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
NO_STATE_NOTE = ("(an interactive widget: its state was not stored with this notebook; "
                 "run the notebook in Jupyter to use it)")

# webpack's bundle finds its own URL to locate its fonts; an inlined <script> has none, and the bundle would
# throw before rendering anything. Resolving against the page instead only affects icon fonts, which no
# fuse_edu widget uses (a missing one is a local file:// miss, never a network request).
_PUBLIC_PATH_THROW = 'if(!e)throw new Error("Automatic publicPath is not supported in this browser");'
_PUBLIC_PATH_PAGE = "if(!e)e=document.baseURI;"

TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block footer_js -%}
{%- if resources.fuse_widget_bundle -%}<script>{{ resources.fuse_widget_bundle }}</script>{%- endif -%}
{%- endblock footer_js -%}
"""


def widget_bundle() -> str:
    """The vendored html-manager bundle, ready to inline in a ``<script>`` element."""
    source = WIDGET_BUNDLE.read_text(encoding="utf-8")
    if _PUBLIC_PATH_THROW not in source:
        raise RuntimeError(f"{WIDGET_BUNDLE} is not the html-manager build this exporter was written for "
                           f"(its public-path check changed); re-vendor it and update fuse_edu/report/offline.py")
    return source.replace(_PUBLIC_PATH_THROW, _PUBLIC_PATH_PAGE).replace("</script", "<\\/script")


def widget_state(nb) -> dict:
    """{model_id: model state} the run stored in ``nb``'s metadata (empty when it stored none)."""
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def prepared(nb) -> tuple[object, dict[str, str]]:
    """A copy of ``nb`` ready to export: formulas as placeholders (with the {placeholder: MathML} table that
    restores them), and widget views without stored state as a note rather than their ``repr``."""
    nb = copy.deepcopy(nb)
    state = widget_state(nb)
    table: dict[str, str] = {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source, _ = protect_math(cell.source, table)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and data[WIDGET_VIEW].get("model_id") not in state:
                output["data"] = data = {"text/plain": NO_STATE_NOTE}
            if "text/markdown" in data:
                data["text/markdown"], _ = protect_math(data["text/markdown"], table)
            if "text/latex" in data and "text/html" not in data:
                tex = data["text/latex"].strip()
                display = not (tex.startswith("$") and not tex.startswith("$$"))
                data["text/html"] = to_mathml(tex.strip("$"), display=display)
    return nb, table


def export_html(nb, show_code: bool = False) -> str:
    """``nb`` (an nbformat node, executed) as one offline HTML document; code cells only when ``show_code``."""
    import jinja2
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", template_file="fuse_offline.html.j2", embed_images=True,
                            exclude_input=not show_code, exclude_input_prompt=not show_code,
                            extra_loaders=[jinja2.DictLoader({"fuse_offline.html.j2": TEMPLATE})])
    ready, table = prepared(nb)
    resources = {"fuse_widget_bundle": widget_bundle() if widget_state(nb) else ""}
    body, _ = exporter.from_notebook_node(ready, resources=resources)
    return restore_math(body, table)
