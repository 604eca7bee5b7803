"""The per-model terms of an ``Objective``: each scores a prompt, given as embeddings in A's space, with one
frozen model.

- ``LMTerm``          mean NLL of the prompt after ``<bos> + prefix`` (fluency), or, with ``target``,
                      the NLL of a target string right after the prompt (the GCG "make it say X" loss);
- ``CLIPTerm``        1 - cos(text feature of prefix + prompt + suffix, image feature), one image or
                      the mean feature of several;
- ``ClassifierTerm``  cross-entropy toward a named label ("positive").

A term sees the prompt in its own model's embedding space: ``Objective`` hands a secondary model's term
the prompt through a ``FuseTranslator`` (exact forward, FUSE backward). Each term frames the prompt for
its model with ``Frame`` (its special tokens plus its own prefix/suffix).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image

from fuse_edu.adapter import FuseAdapter, FuseTranslator, SourceVocabulary
from fuse_edu.models import CausalLM, DualEncoder, FrozenModel, SequenceClassifier
from fuse_edu.objective.frame import Frame


def start_id(lm: CausalLM) -> int:
    """The id a prompt is scored after when the tokenizer adds no special token of its own (``CausalLM.start_id``)."""
    if lm.start_id is None:
        raise ValueError(f"{type(lm.tokenizer).__name__} has neither a BOS nor an EOS token; the LM cannot score "
                         "the prompt's first token without a context")
    return lm.start_id


class Term:
    """One weighted model loss. ``adapter`` connects a secondary model to the primary (None for the primary
    itself): a ``FuseAdapter`` fitted from the primary to this model, or a ready ``FuseTranslator``."""

    model: FrozenModel
    name: str

    def __init__(self, model: FrozenModel, weight: float, name: str,
                 adapter: FuseAdapter | FuseTranslator | None = None):
        self.model, self.weight, self.name, self.adapter = model, weight, name, adapter

    def loss(self, ids: torch.Tensor, embeds: torch.Tensor, mask: torch.Tensor,
             one_hot: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) loss of prompts given in *this term's model's* tokens: ids (B, T), embeds (B, T, d), mask (B, T).
        ``one_hot`` (B, T, V), given only to terms of the primary model: the prompt as a one-hot matrix, for
        terms whose loss reads the prompt's tokens as well as its embeddings (LM fluency)."""
        raise NotImplementedError

    def loss_and_unfinished(self, ids: torch.Tensor, embeds: torch.Tensor, mask: torch.Tensor,
                            one_hot: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``loss``, and the loss of the same prompts as unfinished text, (B,) each, from one forward pass.
        The two differ only for a term that scores the end of the text (``LMTerm(end=True)``)."""
        loss = self.loss(ids, embeds, mask, one_hot)
        return loss, loss

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, weight={self.weight!r})"


class LMTerm(Term):
    """Causal-LM NLL. Without ``target``: mean NLL of the prompt's tokens after ``<bos> + prefix``.
    With ``target``: mean NLL of the target's tokens right after the prompt (the prompt itself unscored).
    For fluency *and* a target, use two LMTerms (their names differ by default: "lm" and "target").

    ``end=True`` also scores the end-of-text token after the prompt (or after the target): the text must
    be a whole sentence, not a sentence cut off ("a small red" scores badly), and a caption cannot pad
    itself out with words the LM finds likely but the image does not show.

    ``per="token"`` averages the NLL over scored tokens; ``per="word"`` divides the same sum by the number
    of words (the end of text counts as one). Per token, a word the tokenizer splits looks more fluent
    than a one-token word, because its later pieces are nearly certain: " c" + "rescent" halves the mean
    of " star". When captions compete across tokenizations (variable length, whole-word swaps), per word
    compares them fairly.
    """

    def __init__(self, lm: CausalLM, weight: float = 1.0, prefix: str = "", target: str | None = None,
                 name: str | None = None, adapter: FuseAdapter | FuseTranslator | None = None, end: bool = False,
                 per: str = "token"):
        if not isinstance(lm, CausalLM):
            raise TypeError(f"LMTerm needs a CausalLM, got {type(lm).__name__}")
        if per not in ("token", "word"):
            raise ValueError(f"per must be 'token' or 'word', got {per!r}")
        super().__init__(lm, weight, name or ("lm" if target is None else "target"), adapter)
        self.prefix, self.target, self.end, self.per = prefix, target, end, per
        # which tokens start a word (leading whitespace), for per="word"; read off the vocabulary once
        self.starts_word = SourceVocabulary.of(lm.tokenizer).starts_space.to(lm.device) if per == "word" else None
        tokenizer = lm.tokenizer
        frame = Frame.of(tokenizer, prefix, target or "")
        if not Frame.of(tokenizer).prefix_ids:  # GPT-2 adds no BOS: the first token still needs a context
            frame = Frame((start_id(lm), *frame.prefix_ids), frame.suffix_ids)
        self.n_target = len(tokenizer(target, add_special_tokens=False)["input_ids"]) if target else 0
        if target is not None and self.n_target == 0:
            raise ValueError(f"target {target!r} gives no tokens; pass target=None to score the prompt itself")
        if end:
            if tokenizer.eos_token_id is None:
                raise ValueError(f"end=True needs an end-of-text token; {type(tokenizer).__name__} has none")
            suffix = list(frame.suffix_ids)
            suffix.insert(self.n_target, tokenizer.eos_token_id)  # right after the target text, before any special suffix
            frame = Frame(frame.prefix_ids, tuple(suffix))
        self.frame = frame

    def with_end(self, end: bool) -> "LMTerm":
        """The same term (model, weight, prefix, target, name, averaging) with ``end`` set as given."""
        return LMTerm(self.model, self.weight, prefix=self.prefix, target=self.target, name=self.name,
                      adapter=self.adapter, end=end, per=self.per)

    def loss(self, ids, embeds, mask, one_hot=None):
        return self.loss_and_unfinished(ids, embeds, mask, one_hot)[0]

    def loss_and_unfinished(self, ids, embeds, mask, one_hot=None):
        """With ``end=True``, the unfinished loss leaves the end-of-text token out of the same sums: a causal
        LM's predictions for the text do not depend on what follows it, so one forward pass gives both."""
        lm = self.model
        framed, framed_mask = self.frame.apply(embeds, mask, lm.embedding_table)            # (B, W, d), (B, W)
        framed_ids, _ = self.frame.apply_ids(ids, mask)                                    # (B, W)
        p, lengths = len(self.frame.prefix_ids), mask.long().sum(1, keepdim=True)          # (B, 1)
        W = framed.shape[1]
        position = torch.arange(W, device=framed.device)                                   # (W,)
        if self.target is None:   # the prompt's own tokens (and the end after them)
            first, count = torch.full_like(lengths, p), lengths + int(self.end)
        else:                     # the target's tokens, right after each row's prompt (and the end)
            first, count = p + lengths, torch.full_like(lengths, self.n_target + int(self.end))
        scored = (position >= first) & (position < first + count)                         # (B, W)
        # Every scored token lies in positions p..W-1, predicted from positions p-1..W-2: the last
        # K = W-p+1 logits hold them all, in every row. A fixed K (not the rows' exact union, as
        # CausalLM.nll_from_embeddings computes with .nonzero()) keeps this free of host syncs.
        K = W - p + 1
        logits = lm.logits_at(framed, framed_mask, K)[:, :-1]                              # (B, K-1, V)
        targets = framed_ids[:, p:]                                                        # (B, K-1)
        weights = scored[:, p:].float()                                                    # (B, K-1)
        B, V = logits.shape[0], logits.shape[-1]
        # (B*(K-1), V) rows, not cross_entropy's (B, V, K-1) layout: 2.6x faster on a CPU at (64, 9, 50257)
        token_nll = F.cross_entropy(logits.float().reshape(-1, V), targets.reshape(-1),
                                    reduction="none").view(B, -1)                           # (B, K-1)
        if one_hot is not None and self.target is None:
            # The fluency loss reads each prompt token twice: as input (through embeds) and as the
            # token being predicted. Written with the one-hot row as the prediction target, the
            # second path is linear in the one-hot, -log p(v | prefix), and its gradient reaches GCG:
            # without it a swap's effect on its own likelihood would be invisible to the gradient.
            T = one_hot.shape[1]
            logp = logits[:, :T].float().log_softmax(-1)                                   # (B, T, V)
            soft_nll = -(logp * one_hot.float()).sum(-1)                                   # (B, T)
            in_prompt = torch.arange(T, device=logp.device) < lengths                      # (B, T)
            token_nll = torch.cat([torch.where(in_prompt, soft_nll, token_nll[:, :T]), token_nll[:, T:]], dim=1)
        finished = self._average(token_nll, weights, targets, first - p)                  # (B,)
        if not self.end:
            return finished, finished
        end_at = torch.arange(targets.shape[1], device=targets.device) == (first - p + count - 1)  # (B, K-1)
        return finished, self._average(token_nll, weights * ~end_at, targets, first - p)  # (B,), (B,)

    def _average(self, token_nll: torch.Tensor, weights: torch.Tensor, targets: torch.Tensor,
                 opening_at: torch.Tensor) -> torch.Tensor:
        """(B,) mean NLL of the tokens ``weights`` (B, K-1) selects, per token or per word; ``opening_at``
        (B, 1): where each row's first scored token is (it counts as a word whatever it looks like)."""
        if self.per == "word":  # a scored token counts when it starts a word, or is the end, or comes first
            starts = self.starts_word[targets.clamp(max=self.starts_word.shape[0] - 1)]    # (B, K-1)
            opening = torch.arange(targets.shape[1], device=targets.device) == opening_at  # (B, K-1)
            counted = weights * (starts | opening | (targets == self.model.tokenizer.eos_token_id)).float()
            return (token_nll * weights).sum(1) / counted.sum(1).clamp(min=1)              # (B,)
        return (token_nll * weights).sum(1) / weights.sum(1)                               # (B,)


class CLIPTerm(Term):
    """1 - cos(text feature of prefix + prompt + suffix, the image feature). Several images are averaged
    into one target direction (a caption that fits them all)."""

    def __init__(self, clip: DualEncoder, adapter: FuseAdapter | FuseTranslator | None,
                 images: list[Image.Image] | Image.Image | None = None, weight: float = 1.0,
                 prefix: str = "", suffix: str = "", image_features: torch.Tensor | None = None,
                 name: str = "clip"):
        if not isinstance(clip, DualEncoder):
            raise TypeError(f"CLIPTerm needs a DualEncoder, got {type(clip).__name__}")
        super().__init__(clip, weight, name, adapter)
        if (images is None) == (image_features is None):
            raise ValueError("CLIPTerm needs exactly one of images= (PIL images) or image_features= (a tensor)")
        if images is not None:
            images = [images] if isinstance(images, Image.Image) else list(images)
            if not images:
                raise ValueError("CLIPTerm got an empty list of images")
            features = clip.encode_images(images)                                         # (M, D)
        else:
            features = torch.as_tensor(image_features).float()
            features = features[None] if features.ndim == 1 else features                 # (M, D)
        # averaged here, to one (D,) row: DualEncoder would pair rows one-to-one if M happened to equal B
        self.target = F.normalize(features.float().mean(0), dim=-1).to(clip.device)  # (D,)
        self.prefix, self.suffix = prefix, suffix
        self.frame = Frame.of(clip.tokenizer, prefix, suffix)

    def loss(self, ids, embeds, mask, one_hot=None):
        framed, framed_mask = self.frame.apply(embeds, mask, self.model.embedding_table)   # (B, W, d)
        return self.model.loss_from_embeddings(framed, framed_mask, self.target)


class ClassifierTerm(Term):
    """Cross-entropy of the classifier toward the class named ``label``."""

    def __init__(self, classifier: SequenceClassifier, adapter: FuseAdapter | FuseTranslator | None, label: str,
                 weight: float = 1.0, prefix: str = "", suffix: str = "", name: str = "classifier"):
        if not isinstance(classifier, SequenceClassifier):
            raise TypeError(f"ClassifierTerm needs a SequenceClassifier, got {type(classifier).__name__}")
        super().__init__(classifier, weight, name, adapter)
        classifier.label_index(label)  # unknown label: ValueError naming the accepted ones
        self.label, self.prefix, self.suffix = label, prefix, suffix
        self.frame = Frame.of(classifier.tokenizer, prefix, suffix)

    def loss(self, ids, embeds, mask, one_hot=None):
        framed, framed_mask = self.frame.apply(embeds, mask, self.model.embedding_table)   # (B, W, d)
        return self.model.loss_from_embeddings(framed, framed_mask, self.label)
