"""A live loss plot for the prompt optimisers: best loss so far against exact evaluations, one line per run.

The picture is a PNG in an ``ipywidgets.Image`` (drawn with matplotlib's Agg canvas, no pyplot, so it
works headless and leaves the notebook's backend alone); a line of text above it says where each run
stands. ``update(history, label)`` redraws from a ``RunResult.history``-style list of rows.

Live updates: the optimisers take no callback, but each produces one history row per step through a
method of its own: ``record`` for GCG and random search (``fuse_edu.optim.loop.CandidateSearch``), ``step``
for AutoDAN and PEZ (``fuse_edu.optim.base.SteppedRun``, whose ``step`` returns the row). ``watch`` wraps
that method on the one optimiser instance for the length of a ``with`` block, so the plot redraws as the
rows arrive and the step loop itself stays the package's. (A ``run(steps, callback=...)`` taking each
history row would make this hook unnecessary.)
"""

from __future__ import annotations

import contextlib
import html
import io

import ipywidgets as widgets

X_KEYS = ("evaluations", "step")


class LossPlot:
    """``plot.widget`` shows it; ``plot.update(history, label)`` or ``with plot.watch(optimiser): ...`` feed it."""

    def __init__(self, title: str = "best loss so far", x: str = "evaluations", size: tuple[float, float] = (6, 3.2),
                 every: int = 1):
        if x not in X_KEYS:
            raise ValueError(f"x must be one of {', '.join(X_KEYS)}, got {x!r}")
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive int (redraw every that many steps), got {every!r}")
        self.title, self.x, self.size, self.every = title, x, size, every
        self.runs: dict[str, list[dict]] = {}
        self.image = widgets.Image(format="png")
        self.status = widgets.HTML(value="<i>no run yet</i>")
        self.widget = widgets.VBox([self.status, self.image])

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def update(self, history: list[dict], label: str = "run") -> None:
        """Show ``history`` (rows with ``best_loss`` and ``evaluations``/``step``) as the line ``label``."""
        self.runs[label] = list(history)
        self.status.value = "<br>".join(
            f"<b>{html.escape(name)}</b>: step {rows[-1]['step']}, {rows[-1]['evaluations']} evaluations, "
            f"best loss {rows[-1]['best_loss']:.4f}" for name, rows in self.runs.items() if rows)
        self.image.value = self.png()

    def png(self) -> bytes:
        """The current figure as PNG bytes."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=self.size, dpi=90)
        FigureCanvasAgg(figure)
        ax = figure.add_subplot()
        for name, rows in self.runs.items():
            ax.plot([r[self.x] for r in rows], [r["best_loss"] for r in rows], marker=".", label=name)
        ax.set_xlabel("exact evaluations" if self.x == "evaluations" else "step")
        ax.set_ylabel("best loss")
        ax.set_title(self.title)
        if self.runs:
            ax.legend(fontsize="small")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()

    @contextlib.contextmanager
    def watch(self, optimiser, label: str | None = None):
        """Redraw after every ``every``-th history row ``optimiser`` produces while the block runs."""
        from fuse_edu.optim.base import SteppedRun

        label = label or getattr(optimiser, "name", type(optimiser).__name__)
        if callable(getattr(optimiser, "record", None)) and hasattr(optimiser, "history"):
            hook, original, rows = "record", optimiser.record, None       # rows live in optimiser.history

            def hooked(step_loss):
                best = original(step_loss)
                self._step_drawn(optimiser.history, label)
                return best
        elif isinstance(optimiser, SteppedRun):
            hook, original, rows = "step", optimiser.step, []             # step() returns its row

            def hooked():
                row = original()
                rows.append(row)
                self._step_drawn(rows, label)
                return row
        else:
            raise TypeError(f"{type(optimiser).__name__} produces no history row per step; plot its result "
                            f"after the run instead: plot.update(result.history)")
        setattr(optimiser, hook, hooked)  # an instance attribute: shadows the class's method for this optimiser only
        try:
            yield self
        finally:
            delattr(optimiser, hook)
            rows = optimiser.history if rows is None else rows
            if rows:
                self.update(rows, label)

    def _step_drawn(self, rows: list[dict], label: str) -> None:
        if len(rows) % self.every == 0:
            self.update(rows, label)


def run_with_plot(optimiser, steps: int, plot: LossPlot | None = None, label: str | None = None, **run_kwargs):
    """``optimiser.run(steps, **run_kwargs)`` with ``plot`` following it step by step (``LossPlot.watch``).
    ``plot`` None: a new one, displayed here. Returns the ``RunResult``."""
    if plot is None:
        from IPython.display import display

        plot = LossPlot()
        display(plot.widget)
    with plot.watch(optimiser, label):
        return optimiser.run(steps, **run_kwargs)
