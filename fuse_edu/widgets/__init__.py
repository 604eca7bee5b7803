"""Interactive explorers for the notebooks, built on ipywidgets; one file per widget.

- ``alignment_viewer``: how each tokenizer cuts each word of a text (``alignment``).
- ``adapter_explorer``: a word's sub-tokens in A and B, and the B words nearest to where the FUSE adapter
  carries it (``adapter_explorer``).
- ``LossPlot``: a live plot of an optimiser's loss while it runs, or of ``RunResult.history`` after (``loss_plot``).

Each explorer's state lives in widget models (``Text.value``, ``HTML.value``, ``Image.value``), so it can
be driven and checked headless, without a browser or a kernel: set a value, read the output model.
"""

from fuse_edu.widgets.adapter_explorer import AdapterExplorer, adapter_explorer, nearest_words
from fuse_edu.widgets.alignment import alignment_table_html, alignment_viewer
from fuse_edu.widgets.loss_plot import LossPlot, run_with_plot

__all__ = ["AdapterExplorer", "LossPlot", "adapter_explorer", "alignment_table_html", "alignment_viewer",
           "nearest_words", "run_with_plot"]
