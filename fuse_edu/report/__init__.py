"""Reports: a notebook run with parameters and turned into one HTML file that opens offline.

- ``render_notebook``, ``notebook_to_html``, ``NotebookFailed``  papermill, then nbconvert (``notebook``)
- ``build_report``, ``declared_parameters``, ``resolve_parameters``  the report template (``template``)
- ``gallery_html``, ``table_html``, ``environment_info``  what the template shows (``html``)
"""

from fuse_edu.report.html import environment_info, gallery_html, png_data_uri, table_html
from fuse_edu.report.notebook import REPO_NOTEBOOKS, NotebookFailed, notebook_to_html, render_notebook
from fuse_edu.report.template import (DEFAULT_TIMEOUT_S, TEMPLATE, build_report, check_names, declared_parameters,
                                      parse_value, resolve_parameters)

__all__ = ["DEFAULT_TIMEOUT_S", "REPO_NOTEBOOKS", "TEMPLATE", "NotebookFailed", "build_report", "check_names",
           "declared_parameters", "environment_info", "gallery_html", "notebook_to_html", "parse_value",
           "png_data_uri", "render_notebook", "resolve_parameters", "table_html"]
