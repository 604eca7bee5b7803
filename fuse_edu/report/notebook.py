"""Running a notebook with parameters through papermill, then turning it into one HTML file that opens offline.

A failing run still gives an HTML file: papermill saves the executed notebook with the failing cell's
traceback (and its own error banner at the top); ``render_notebook`` converts that, then raises
``NotebookFailed`` naming the HTML, so a caller can both show the failure and exit non-zero.
"""

from __future__ import annotations

from pathlib import Path

from fuse_edu.course_files import course_path

# the repository's notebooks/ in a clone, the copy packaged in the wheel otherwise (fuse_edu.course_files)
REPO_NOTEBOOKS = course_path("notebooks")



def kernel_config():
    """Kernel settings for every run: IPC transport where the platform has it (not Windows), so code and
    outputs never travel over unencrypted TCP and the kernel has nothing to warn about.

    The sockets get an absolute, unique path in Jupyter's runtime folder (jupyter_client removes them when the
    kernel stops): its default, a relative ``kernel-ipc``, resolves against each process's own working folder,
    so a kernel started in the notebook's folder would listen where a client elsewhere never looks."""
    import os
    import uuid

    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets.config import Config

    if os.name == "nt":
        return Config({"KernelManager": {"transport": "tcp"}})
    os.makedirs(jupyter_runtime_dir(), exist_ok=True)
    sockets = os.path.join(jupyter_runtime_dir(), f"fuse_edu-{uuid.uuid4().hex[:12]}")
    return Config({"KernelManager": {"transport": "ipc", "ip": sockets}})


class NotebookFailed(RuntimeError):
    """The notebook raised or timed out; ``html`` is the report that shows where."""

    def __init__(self, message: str, html: Path):
        super().__init__(message)
        self.html = html


def notebook_to_html(executed: str | Path, out_html: str | Path, show_code: bool = True) -> Path:
    """Write the executed notebook ``executed`` as one HTML file that opens offline (``offline.export_html``:
    images, formulas and widget state embedded; code cells only when ``show_code``)."""
    import nbformat

    from fuse_edu.report.offline import export_html

    out_html = Path(out_html)
    out_html.write_text(export_html(nbformat.read(executed, as_version=4), show_code=show_code), encoding="utf-8")
    return out_html


def _mark_failure(executed: Path, error: BaseException) -> None:
    """Put a markdown cell naming ``error`` at the top of ``executed``, unless papermill already did (it does
    for a cell that raised, not for a timeout or a dead kernel)."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    if any("papermill-error-cell-tag" in c.metadata.get("tags", []) for c in nb.cells):
        return
    text = f"{type(error).__name__}: {error}".replace("\n", " ")
    note = nbformat.v4.new_markdown_cell(f'<span style="color:red;font-weight:bold">This run failed: '
                                         f'{text[:2000]}</span>')
    note.metadata["tags"] = ["fuse-edu-error"]
    nb.cells.insert(0, note)
    nbformat.write(nb, executed)


def render_notebook(notebook: str | Path, out_html: str | Path, parameters: dict | None = None,
                    timeout_s: int = 1200, show_code: bool = True, progress: bool = False) -> Path:
    """Execute ``notebook`` with ``parameters`` (papermill, kernel ``python3``, ``timeout_s`` per cell) and
    write the executed notebook beside ``out_html`` (widget state stored) plus the HTML itself, which opens
    offline (``notebook_to_html``).

    If a cell fails or times out, the HTML is still written, showing the failure, and ``NotebookFailed``
    is raised."""
    import papermill

    notebook, out_html = Path(notebook), Path(out_html)
    if not notebook.is_file():
        raise FileNotFoundError(f"notebook {notebook} does not exist")
    out_html.parent.mkdir(parents=True, exist_ok=True)
    executed = out_html.with_suffix(".ipynb")
    if executed.resolve() == notebook.resolve():
        raise ValueError(f"the executed notebook {executed} would overwrite {notebook}; write the HTML elsewhere")
    executed.unlink(missing_ok=True)  # a stale notebook from an earlier run must not become this run's report
    try:
        papermill.execute_notebook(
            str(notebook), str(executed), parameters=parameters or {}, kernel_name="python3",
            execution_timeout=timeout_s, cwd=str(notebook.parent), progress_bar=progress,
            store_widget_state=True, config=kernel_config(),
        )
    except Exception as error:  # a cell error, a timeout, a dead kernel: all end in an HTML that says so
        if not executed.is_file():
            raise
        _mark_failure(executed, error)
        notebook_to_html(executed, out_html, show_code=show_code)
        raise NotebookFailed(f"{notebook.name} failed ({type(error).__name__}); see {out_html}", out_html) from error
    return notebook_to_html(executed, out_html, show_code=show_code)
