"""A live loss plot for the prompt optimisers: best loss so far against exact evaluations, one line per run.

The picture is a PNG in an ``ipywidgets.Image`` (drawn with matplotlib's Agg canvas, no pyplot, so it
works headless and leaves the notebook's backend alone); a line of text above it says where each run
stands. ``update(history, label)`` redraws from a ``RunResult.history``-style list of rows.

Live updates: the optimisers take no callback. The candidate-batch optimisers (GCG, random search:
``fuse_edu.optim.loop.CandidateSearch``) write one history row per step in ``record``; ``watch``
wraps that method on the one optimiser instance for the length of a ``with`` block, so the plot redraws
as the rows arrive and the step loop itself stays the package's. AutoDAN and PEZ have no per-step hook:
``run_with_plot`` plots their history once the run returns. (A ``run(steps, callback=...)`` taking each
history row would make every method live.)
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
        """Redraw after every ``every``-th history row ``optimiser`` records while the block runs."""
        if not callable(getattr(optimiser, "record", None)) or not hasattr(optimiser, "history"):
            raise TypeError(f"{type(optimiser).__name__} records no history row per step; plot its result "
                            f"after the run instead: plot.update(result.history)")
        label = label or getattr(optimiser, "name", "run")
        original = optimiser.record

        def record(step_loss):
            best = original(step_loss)
            if len(optimiser.history) % self.every == 0:
                self.update(optimiser.history, label)
            return best

        optimiser.record = record  # an instance attribute: shadows the class's method for this optimiser only
        try:
            yield self
        finally:
            del optimiser.record
            if optimiser.history:
                self.update(optimiser.history, label)


def run_with_plot(optimiser, steps: int, plot: LossPlot | None = None, label: str | None = None, **run_kwargs):
    """``optimiser.run(steps, **run_kwargs)`` with ``plot`` following it: live where the optimiser records per
    step, else drawn from the result's history. ``plot`` None: a new one, displayed here. Returns the ``RunResult``."""
    if plot is None:
        from IPython.display import display

        plot = LossPlot()
        display(plot.widget)
    label = label or getattr(optimiser, "name", "run")
    if callable(getattr(optimiser, "record", None)):
        with plot.watch(optimiser, label):
            return optimiser.run(steps, **run_kwargs)
    result = optimiser.run(steps, **run_kwargs)
    plot.update(result.history, label)
    return result
