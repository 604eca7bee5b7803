"""Run a notebook with parameters through papermill, then turn it into one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

REPO_NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def render_notebook(notebook: str | Path, out_html: str | Path, parameters: dict | None = None,
                    timeout_s: int = 1200) -> Path:
    """Execute ``notebook`` with ``parameters`` (papermill, kernel ``python3``, per-cell timeout) and
    write the executed notebook beside ``out_html`` plus the HTML itself (images embedded)."""
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    notebook, out_html = Path(notebook), Path(out_html)
    if not notebook.is_file():
        raise FileNotFoundError(f"notebook {notebook} does not exist")
    out_html.parent.mkdir(parents=True, exist_ok=True)
    executed = out_html.with_suffix(".ipynb")
    papermill.execute_notebook(
        str(notebook), str(executed), parameters=parameters or {}, kernel_name="python3",
        execution_timeout=timeout_s, cwd=str(notebook.parent), progress_bar=False,
    )
    body, _ = HTMLExporter(embed_images=True).from_notebook_node(nbformat.read(executed, as_version=4))
    out_html.write_text(body, encoding="utf-8")
    return out_html
