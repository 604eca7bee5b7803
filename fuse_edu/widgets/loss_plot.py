"""A live loss plot for the prompt optimisers: best loss so far against exact evaluations, one line per run.

The picture is a PNG in an ``ipywidgets.Image`` (drawn with matplotlib's Agg canvas, no pyplot, so it
works headless and leaves the notebook's backend alone); a line of text above it says where each run
stands. ``update(history, label)`` redraws from a ``RunResult.history``-style list of rows.

Live updates: every optimiser's ``run`` takes ``callback``, called with each history row as it is made;
``follow(label)`` is such a callback, and ``run_with_plot`` wires one up.
"""

from __future__ import annotations

import html
import io

import ipywidgets as widgets

X_KEYS = ("evaluations", "step")


class LossPlot:
    """``plot.widget`` shows it; ``plot.update(history, label)`` or ``optimiser.run(steps, callback=plot.follow(label))`` feed it."""

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

    def follow(self, label: str = "run"):
        """A ``callback`` for an optimiser's ``run``: each history row it hands over joins the line ``label``,
        and the plot redraws every ``every`` rows. ``optimiser.run(steps, callback=plot.follow("gcg"))``."""
        rows: list[dict] = []
        self.runs[label] = rows

        def callback(row: dict) -> None:
            rows.append(dict(row))
            if len(rows) % self.every == 0:
                self.update(rows, label)
        return callback


def run_with_plot(optimiser, steps: int, plot: LossPlot | None = None, label: str | None = None, **run_kwargs):
    """``optimiser.run(steps, callback=..., **run_kwargs)`` with ``plot`` following it row by row, then drawn
    once more from the finished history. ``plot`` None: a new one, displayed here. Returns what ``run`` returns."""
    if plot is None:
        from IPython.display import display

        plot = LossPlot()
        display(plot.widget)
    label = label or getattr(optimiser, "name", type(optimiser).__name__)
    result = optimiser.run(steps, callback=plot.follow(label), **run_kwargs)
    history = getattr(result, "history", result)
    if history:
        plot.update(history, label)
    return result
