"""``CaptionSettings``: every knob of a caption run, with defaults, checked before any model loads.

The command line, the report template and the notebooks only fill these in; ``check(spec)`` refuses a bad
combination in a second, naming the bad value and what would be accepted, using nothing but the preset's
spec (its roles and their kinds) and the optimiser classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fuse_edu.models import PresetSpec, SequenceClassifier
from fuse_edu.objective import ADAPTER_MODES, check_weights
from fuse_edu.optim import method as method_class
from fuse_edu.optim import strategy as strategy_class
from fuse_edu.optim.candidates import ALLOWED_KINDS

VOCABULARIES = ("open", "lexicon", *(k for k in ALLOWED_KINDS if k not in ("open", "all")))
ADAPTERS = ADAPTER_MODES


@dataclass
class CaptionSettings:
    """How to caption: the method and its budget, the prompt's shape, the objective's weights and labels.

    ``weights``: per role, by name ({"clip": 2.0}); missing roles take the preset's weights. ``labels``:
    {classifier role: label} steers the caption, e.g. {"sentiment": "positive"}. ``candidates_per_step``
    None: the method's own default. ``options``: further constructor arguments of the method, among those it
    declares (``Optimiser.options``).

    ``vocabulary``: which tokens a caption may use (``captioning.vocabulary``): "open", the primary
    tokenizer's whole printable vocabulary (the default); "lexicon", the preset's closed word list; or a
    narrower kind of ``allowed_token_mask`` ("word", "lower", "alpha", "pieces"). None: the preset's lexicon
    if it has one, else open. ``adapter``: how secondary models reach the gradient: "fuse" (fitted adapters), "random"
    (adapters of the same shapes and norms with random entries) or "none" (no gradient from them; they
    still score every candidate exactly), the ablation that shows what FUSE adds.
    """

    method: str = "gcg"
    strategy: str | None = None          # for methods that take a search strategy (greedy, beam, ucs)
    steps: int = 40
    patience: int | None = 8             # stop once this many steps in a row found nothing better
    budget: int | None = 513             # exact candidate evaluations per image: the initial caption + 8 x 64
    prompt_length: int = 8               # the most LM tokens a caption may use (variable_length: fewer)
    variable_length: bool = True         # captions grow and shrink (``fuse_edu.optim.loop``)
    vocabulary: str | None = "open"
    adapter: str = "fuse"
    end: bool = True                     # the LM scores the end of text: a caption is a whole sentence
    per: str = "word"                    # LM NLL per word, not per token: split words are not favoured
    word_share: float = 0.5              # share of candidates that swap a whole word
    candidates_per_step: int | None = None
    topk: int = 16                       # GCG: swaps considered per position
    prefix: str = ""
    init_text: str | None = None
    seed: int = 0
    weights: dict[str, float] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, object] = field(default_factory=dict)  # the method's own knobs ({"beam_width": 2})

    def check(self, spec: PresetSpec) -> None:
        """ValueError for any setting this preset and method cannot run with; nothing is loaded."""
        optimiser = method_class(self.method)  # an unknown method: ValueError listing the methods
        if self.strategy is not None:
            if "strategy" not in optimiser.options:
                raise ValueError(f"method {self.method!r} takes no search strategy; leave out --strategy "
                                 f"(got {self.strategy!r})")
            strategy_class(self.strategy)
        unknown = sorted(set(self.options) - set(optimiser.options))
        if unknown:
            raise ValueError(f"method {self.method!r} takes no option {', '.join(unknown)}; its options are "
                             f"{', '.join(optimiser.options)}")
        for name, least in (("steps", 0), ("prompt_length", 1), ("topk", 1), ("seed", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        for name in ("patience", "budget", "candidates_per_step"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be an integer >= 1 or None, got {value!r}")
        if self.steps == 0 and not optimiser.scores_a_start:
            raise ValueError(f"method {self.method!r} has no prompt before its first step, so steps must be >= 1, "
                             f"got 0")
        if self.vocabulary is not None and self.vocabulary not in VOCABULARIES:
            raise ValueError(f"unknown vocabulary {self.vocabulary!r}; accepted: {', '.join(VOCABULARIES)}")
        if self.vocabulary == "lexicon" and spec.words.lexicon is None:
            raise ValueError(f"preset {spec.name!r} has no lexicon; use vocabulary 'open' (--vocabulary open)")
        if self.adapter not in ADAPTERS:
            raise ValueError(f"unknown adapter {self.adapter!r}; accepted: {', '.join(ADAPTERS)}")
        strategy = {"strategy": self.strategy} if self.strategy is not None else {}
        optimiser.check_budget(self.budget, self.candidates_per_step, prompt_length=self.prompt_length,
                               **strategy, **self.options)
        classifiers = [role for role, source in spec.models.items() if issubclass(source.kind, SequenceClassifier)]
        unknown = sorted(set(self.labels) - set(classifiers))
        if unknown:
            raise ValueError(f"a label for {', '.join(unknown)}, which preset {spec.name!r} has no classifier "
                             f"role for; its classifier roles are {', '.join(classifiers) or 'none'}")
        unknown = sorted(set(self.weights) - set(spec.roles))
        if unknown:
            raise ValueError(f"unknown weight name(s) {', '.join(unknown)}; accepted: {', '.join(spec.roles)}")
        unused = sorted(role for role in self.weights if role in classifiers and role not in self.labels)
        if unused:
            raise ValueError(f"a weight for {', '.join(unused)} needs a label for it to steer toward (e.g. "
                             f"--{unused[0]} LABEL): without one there is no {unused[0]} term to weigh")
        check_weights(self.weights)

    def vocabulary_for(self, spec: PresetSpec) -> str:
        """The vocabulary this run uses on ``spec``: the one set, else the preset's lexicon or open."""
        if self.vocabulary is not None:
            return self.vocabulary
        return "lexicon" if spec.words.lexicon is not None else "open"

    def objective_weights(self, spec: PresetSpec) -> dict[str, float]:
        """The preset's weights with these settings' on top."""
        return {**spec.weights, **self.weights}
