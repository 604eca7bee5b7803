"""Diagrams drawn by code, for the notebooks and the README: matplotlib figures of the method's pieces.

- ``algebra``   a word as a lateral slice (its sub-token rows, zero-padded to K, in A and in B); the
                t-product as circular convolution along mode 3
- ``adapter``   the slice norms of a fitted T_K as a heatmap; per-sub-token gradient bars; held-out fit
                error by bucket
- ``pipeline``  the forward (decode, re-tokenize, look up) and backward (G_B * T_K^T) passes across two
                tokenizers

Every function returns a ``matplotlib.figure.Figure`` and draws nothing it was not given;
``scripts/make_figures.py`` writes the README's copies into ``docs/figures/``.
"""
