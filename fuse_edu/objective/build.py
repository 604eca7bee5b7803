"""Assembling an objective from a preset: one term per role that has something to aim at.

The primary role always contributes LM fluency. A ``DualEncoder`` role joins when there are images (1 - cos
toward them); a ``SequenceClassifier`` role joins when ``labels`` names a label for it (cross-entropy toward
it). Which term a role joins follows from its wrapper class, so a new secondary model needs only a preset
entry. Adapters from the primary to each secondary role are fitted on the preset's adapter words, once,
then read from the disk cache.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from fuse_edu.adapter import FuseAdapter, FuseTranslator
from fuse_edu.models import DEFAULT_PRESET, DualEncoder, Preset, SequenceClassifier, load_preset
from fuse_edu.objective.objective import Objective, check_weights
from fuse_edu.objective.terms import ClassifierTerm, CLIPTerm, LMTerm, Term

TARGET = "target"  # the weight name of an LM target term ("make the LM say X" after the prompt)
ADAPTER_MODES = ("fuse", "none", "random")


def fit_adapter(preset: Preset, role: str) -> FuseAdapter:
    """The FUSE adapter from the preset's primary model to ``role``'s, on the preset's adapter words."""
    if role not in preset.models or role == preset.spec.primary:
        raise ValueError(f"no secondary role {role!r} in preset {preset.name!r}; its secondary roles are "
                         f"{', '.join(r for r in preset.roles if r != preset.spec.primary)}")
    words = preset.words.adapter_words() if preset.words.adapter_words else None
    return FuseAdapter.fit(preset.lm, preset.models[role], words=words)


def ablated_adapters(preset: Preset, roles: list[str], mode: str = "fuse",
                     seed: int = 0) -> dict[str, FuseAdapter | FuseTranslator]:
    """What carries each secondary role's gradient to the primary's embeddings, for ``build_objective``.

    ``fuse``: the fitted FUSE adapters. ``random``: adapters of the same shapes whose entries are Gaussian,
    scaled to each fitted T_K's Frobenius norm (``FuseAdapter.randomised``). ``none``: no gradient at all
    (a ``FuseTranslator`` without an adapter: the exact forward, detached), so the role still scores every
    candidate exactly but guides nothing. The ablation: what the gradient adds beyond exact scoring.
    """
    if mode not in ADAPTER_MODES:
        raise ValueError(f"unknown adapter mode {mode!r}; accepted: {', '.join(ADAPTER_MODES)}")
    adapters: dict[str, FuseAdapter | FuseTranslator] = {}
    for role in roles:
        model = preset.models[role]
        if mode == "none":
            adapters[role] = FuseTranslator(preset.lm.tokenizer, model.tokenizer, model.embedding_table, None)
        else:
            fitted = fit_adapter(preset, role)
            adapters[role] = fitted.randomised(seed) if mode == "random" else fitted
    return adapters


def objective_roles(preset: Preset, images: bool, labels: Mapping[str, str] | None = None) -> list[str]:
    """The roles an objective with (or without) images and these ``labels`` has terms for, primary first.

    A label for a role that is not a classifier of this preset is a ValueError naming the classifier roles.
    """
    labels = dict(labels or {})
    classifiers = [r for r, m in preset.models.items() if isinstance(m, SequenceClassifier)]
    unknown = sorted(set(labels) - set(classifiers))
    if unknown:
        raise ValueError(f"labels for {', '.join(unknown)}, which {'is' if len(unknown) == 1 else 'are'} not a "
                         f"classifier role of preset {preset.name!r}; its classifier roles are "
                         f"{', '.join(classifiers) or 'none'}")
    roles = [preset.spec.primary]
    for role, model in preset.models.items():
        if role == preset.spec.primary:
            continue
        if (isinstance(model, DualEncoder) and images) or role in labels:
            roles.append(role)
    return roles


def build_objective(preset: Preset | str = DEFAULT_PRESET, images=None, image_features: torch.Tensor | None = None,
                    labels: Mapping[str, str] | None = None, weights: Mapping[str, float] | None = None,
                    prefix: str = "", clip_prefix: str | None = None, clip_suffix: str = "",
                    device: str | torch.device = "cpu", target: str | None = None,
                    adapters: dict[str, FuseAdapter] | None = None, end: bool = False,
                    per: str = "token") -> Objective:
    """LM fluency + every image role toward ``images`` + every labelled classifier role (+ an LM target).

    ``preset``: a loaded ``Preset`` or a name for ``load_preset``. ``images`` (PIL images) or
    ``image_features`` ((D,) or (M, D)) feed every ``DualEncoder`` role. ``labels``: {classifier role: label},
    e.g. {"sentiment": "positive"}. ``weights``: per term, by role name (and "target"); missing ones take the
    preset's (``Preset.weights``), "target" 1.0; a name that is no term is a ValueError. ``clip_prefix``
    defaults to ``prefix``: an image role reads the caption as the LM writes it. ``adapters`` reuses fitted
    adapters, or translators (``ablated_adapters``), by role; missing ones are fitted (or read from the
    cache). ``end``, ``per``: see ``LMTerm``.
    """
    preset = preset if isinstance(preset, Preset) else load_preset(preset, device=device)
    has_images = images is not None or image_features is not None
    roles = objective_roles(preset, has_images, labels)
    names = [*roles, *([TARGET] if target is not None else [])]
    given = dict(weights or {})
    unknown = sorted(set(given) - set(preset.roles) - {TARGET})
    if unknown:
        raise ValueError(f"unknown weight names {unknown}; accepted: {', '.join([*preset.roles, TARGET])}")
    weights = {**preset.weights, TARGET: 1.0, **given}
    check_weights({name: weights[name] for name in names})
    adapters = dict(adapters or {})
    labels = dict(labels or {})
    terms: list[Term] = []
    for role in roles:
        model = preset.models[role]
        if role == preset.spec.primary:
            terms.append(LMTerm(model, weights[role], prefix=prefix, end=end, per=per, name=role))
            continue
        if role not in adapters:
            adapters[role] = fit_adapter(preset, role)
        if isinstance(model, DualEncoder):
            terms.append(CLIPTerm(model, adapters[role], images, weights[role], name=role, image_features=image_features,
                                  prefix=prefix if clip_prefix is None else clip_prefix, suffix=clip_suffix))
        else:
            terms.append(ClassifierTerm(model, adapters[role], labels[role], weights[role], name=role))
    if target is not None:
        terms.append(LMTerm(preset.lm, weights[TARGET], prefix=prefix, target=target, name=TARGET))
    return Objective(preset.lm, terms)
