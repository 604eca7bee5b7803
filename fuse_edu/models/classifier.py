"""``SequenceClassifier``: any ``AutoModelForSequenceClassification`` as "push the text toward this label".

The FUSE objective's classifier term is the cross-entropy toward a target label (sentiment-conditioned
captioning: "a lovely red circle"). Labels are addressed by name, never by index, because label order
is a property of each checkpoint.

Label names come from ``config.id2label``, lower-cased, so sentiment models read "negative"/"positive"
whatever their checkpoint's spelling ("NEGATIVE", "Negative", "NEG"). A two-label checkpoint that kept
transformers' placeholder names (LABEL_0, LABEL_1) is read with the GLUE SST-2 convention, which
sentiment fine-tunes follow: 0 negative, 1 positive. Any other model can pass ``labels`` explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, PreTrainedModel, PreTrainedTokenizerBase

from fuse_edu.hub import load_from_hub_or_path
from fuse_edu.models.base import OFFLINE_HINT, FrozenModel, check_right_padded, resolve_tokenizer

_ABBREVIATIONS = {"neg": "negative", "neu": "neutral", "pos": "positive"}
_PLACEHOLDER_BINARY = ("label_0", "label_1")
_SST2_NAMES = ("negative", "positive")


def label_names(config) -> tuple[str, ...]:
    """Readable class names in class-id order, as described in the module docstring."""
    names = tuple(str(config.id2label[i]).strip().lower() for i in range(config.num_labels))
    if names == _PLACEHOLDER_BINARY:
        return _SST2_NAMES
    return tuple(_ABBREVIATIONS.get(name, name) for name in names)


class SequenceClassifier(FrozenModel):
    """A frozen text classifier whose classes have names: ``predict``, ``probabilities``, a loss toward a label."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, labels: Sequence[str] | None = None):
        super().__init__(model, tokenizer)
        self.labels = tuple(labels) if labels is not None else label_names(model.config)
        if len(self.labels) != model.config.num_labels or len(set(self.labels)) != len(self.labels):
            raise ValueError(
                f"labels must be {model.config.num_labels} distinct names, one per class of "
                f"{type(model).__name__}, got {self.labels}"
            )

    @classmethod
    def load(cls, name_or_path: str | Path, tokenizer: PreTrainedTokenizerBase | str | None = None,
             device: str | torch.device = "cpu") -> "SequenceClassifier":
        """``load_sequence_classifier``: by hub id or local folder."""
        return load_sequence_classifier(name_or_path, tokenizer=tokenizer, device=device)

    def label_index(self, label: str) -> int:
        if label not in self.labels:
            raise ValueError(f"unknown label {label!r}; this classifier's labels are: {', '.join(self.labels)}")
        return self.labels.index(label)

    def logits_from_embeddings(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Class logits, (B, C), from token embeddings (B, T, d) with special tokens included ([CLS] ... [SEP])."""
        check_right_padded(attention_mask)
        # Only the two arguments every classifier takes: DistilBERT has no token_type_ids.
        out = self.model(inputs_embeds=inputs_embeds.to(self.device, self.embedding_table.dtype),
                         attention_mask=attention_mask.to(self.device))
        return out.logits  # (B, C)

    def loss_from_embeddings(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, label: str) -> torch.Tensor:
        """Cross-entropy toward the class named ``label``, one value per row: (B,)."""
        target = self.label_index(label)
        logits = self.logits_from_embeddings(inputs_embeds, attention_mask).float()  # (B, C)
        targets = torch.full((logits.shape[0],), target, dtype=torch.long, device=logits.device)  # (B,)
        return F.cross_entropy(logits, targets, reduction="none")  # (B,)

    @torch.no_grad()
    def probabilities(self, texts: list[str]) -> torch.Tensor:
        """Class probabilities, (N, C), columns in the order of ``self.labels``."""
        batch = self.tokenize(texts)
        return self.logits_from_embeddings(self.embed(batch["input_ids"]), batch["attention_mask"]).float().softmax(-1)

    def predict(self, texts: list[str]) -> list[str]:
        """The most likely label name for each text."""
        return [self.labels[i] for i in self.probabilities(texts).argmax(dim=-1).tolist()]


def load_sequence_classifier(name_or_path: str | Path, tokenizer: PreTrainedTokenizerBase | str | None = None,
                             device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                             labels: Sequence[str] | None = None) -> SequenceClassifier:
    """Any sequence classifier by hub id or local folder; ``labels`` overrides the names read from its config."""
    model = load_from_hub_or_path(AutoModelForSequenceClassification.from_pretrained, str(name_or_path),
                                  OFFLINE_HINT, dtype=dtype)
    return SequenceClassifier(model, resolve_tokenizer(tokenizer, name_or_path), labels).to(device)
