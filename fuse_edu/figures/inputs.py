"""Checking what a figure is given: numbers as a finite NumPy array, or an error that names the argument."""

from __future__ import annotations

import numpy as np


def as_finite_array(values: object, name: str) -> np.ndarray:
    """``values`` as a finite float64 NumPy array, or a ValueError naming ``name``."""
    if hasattr(values, "detach"):  # a torch tensor, on any device
        values = values.detach().cpu().double().numpy()
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numbers, got {type(values).__name__}: {error}") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} has NaN or infinite entries")
    return array
