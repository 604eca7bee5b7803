"""Reports: a notebook run with parameters and turned into one HTML file that opens offline.

- ``render_notebook``, ``notebook_to_html``, ``NotebookFailed``, ``kernel_config``  papermill, then HTML (``notebook``)
- ``export_html``  the one offline HTML exporter: no CDN, formulas as MathML, widgets from stored state (``offline``)
- ``to_mathml``, ``protect_math``, ``restore_math``  LaTeX to MathML at export time (``mathml``)
- ``build_report``, ``declared_parameters``, ``resolve_parameters``  the report template (``template``)
- ``gallery_html``, ``table_html``, ``environment_info``  what the template shows (``html``)
"""

from fuse_edu.report.html import environment_info, gallery_html, png_data_uri, table_html
from fuse_edu.report.mathml import UnconvertibleFormula, protect_math, restore_math, to_mathml
from fuse_edu.report.notebook import REPO_NOTEBOOKS, NotebookFailed, kernel_config, notebook_to_html, render_notebook
from fuse_edu.report.offline import export_html
from fuse_edu.report.template import (DEFAULT_TIMEOUT_S, TEMPLATE, build_report, check_names, declared_parameters,
                                      parse_value, resolve_parameters)

__all__ = ["DEFAULT_TIMEOUT_S", "REPO_NOTEBOOKS", "TEMPLATE", "NotebookFailed", "UnconvertibleFormula", "build_report",
           "check_names", "declared_parameters", "environment_info", "export_html", "gallery_html", "kernel_config",
           "notebook_to_html", "parse_value", "png_data_uri", "protect_math", "render_notebook", "resolve_parameters",
           "restore_math", "table_html", "to_mathml"]
