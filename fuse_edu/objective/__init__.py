"""The objective a prompt optimiser minimises: the prompt frame, the per-model terms, their weighted sum.

- ``Frame``           a model's special tokens and its own prefix/suffix around a prompt (``frame``)
- ``LMTerm``, ``CLIPTerm``, ``ClassifierTerm``   one frozen model's loss of a prompt (``terms``)
- ``Objective``       the weighted sum, its exact evaluation and its gradients; ``NonFiniteLossError`` (``objective``)
- ``build_objective`` the objective a preset and a task call for; ``fit_adapter`` (``build``)
"""

from fuse_edu.objective.build import (ADAPTER_MODES, TARGET, ablated_adapters, build_objective, fit_adapter,
                                     objective_roles)
from fuse_edu.objective.frame import Frame
from fuse_edu.objective.objective import NonFiniteLossError, Objective, check_weights
from fuse_edu.objective.terms import ClassifierTerm, CLIPTerm, LMTerm, Term

__all__ = ["ADAPTER_MODES", "TARGET", "ablated_adapters", "CLIPTerm", "ClassifierTerm", "Frame", "LMTerm", "NonFiniteLossError", "Objective", "Term", "build_objective",
           "check_weights", "fit_adapter", "objective_roles"]
