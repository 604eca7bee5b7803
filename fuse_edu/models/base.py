"""``FrozenModel``: what every model wrapper shares, so FUSE can treat an LM, CLIP and a classifier alike.

FUSE never trains these models. It needs, from each one: its tokenizer, its input embedding table
(the rows a prompt's tokens look up, shape (V, d)) and a loss written as a function of the *input
embeddings*, because the gradient FUSE carries across tokenizers is a gradient with respect to those
embeddings. Each wrapper adds its own ``loss_from_embeddings``.

Conventions shared by every wrapper:
- parameters are frozen (``requires_grad=False``) and the model is in eval mode, yet gradients still
  flow to ``inputs_embeds``, because that tensor is the caller's and may require grad;
- batches are right-padded: row b's real tokens are ``attention_mask[b] == 1`` and come first.
  Positional embeddings count from 0 at the first column, so left padding would shift every position.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from fuse_edu.batching import pad_right
from fuse_edu.runtime import DEVICE_CHOICES, pick_device
from fuse_edu.text import load_tokenizer

# Ends every "hub id while offline" error from the model loaders: the one thing that works offline.
OFFLINE_HINT = "The default preset works offline: fuse_edu.models.load_preset('toy')."


def input_embedding_layer(module: nn.Module) -> nn.Module:
    """``module.get_input_embeddings()``, or a clear error when the model has none.

    transformers raises NotImplementedError from the base class when a model does not say where its
    embeddings live (CLIPModel does this: its table sits in ``text_model``), and some models return None.
    """
    try:
        layer = module.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        layer = None
    if layer is None or not isinstance(getattr(layer, "weight", None), torch.Tensor):
        raise TypeError(
            f"{type(module).__name__} has no input embedding layer (get_input_embeddings() gave "
            f"{layer!r}); FUSE needs a model whose tokens are looked up in an embedding table, because its "
            "losses are written as functions of the input embeddings"
        )
    return layer


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"`` through ``pick_device``; anything else (``"cuda:1"``) as is."""
    if isinstance(device, str) and device in DEVICE_CHOICES:
        return pick_device(device)
    return torch.device(device)


def resolve_tokenizer(tokenizer: PreTrainedTokenizerBase | str | Path | None, name_or_path: str | Path):
    """A tokenizer object as is; a name through ``load_tokenizer``; None means the model's own name or path."""
    if isinstance(tokenizer, PreTrainedTokenizerBase):
        return tokenizer
    if tokenizer is None:
        tokenizer = name_or_path
    if not isinstance(tokenizer, (str, Path)):
        raise TypeError(
            f"tokenizer must be a Hugging Face tokenizer, a name for load_tokenizer or a path, got {type(tokenizer).__name__}"
        )
    return load_tokenizer(str(tokenizer))


def check_right_padded(attention_mask: torch.Tensor) -> None:
    """Refuse a mask with a 0 before a 1 in some row: see the module docstring for why.

    Checked for CPU tensors only. On a GPU each ``if tensor.any()`` waits for the device, and this runs on
    every forward inside the optimisers' inner loops; the masks those build (``Frame``, ``pad_right``) are
    right-padded by construction, and the CPU tests check them here.
    """
    if attention_mask.ndim != 2:
        raise ValueError(f"attention_mask must have shape (B, T), got {tuple(attention_mask.shape)}")
    if attention_mask.device.type != "cpu":
        return
    mask = attention_mask.long()  # (B, T)
    if (mask[:, 1:] > mask[:, :-1]).any():
        raise ValueError("attention_mask must be right-padded (each row: ones, then zeros); got a 0 before a 1")
    if (mask.sum(dim=1) == 0).any():
        raise ValueError("attention_mask has a row with no tokens at all")


class FrozenModel:
    """A frozen Hugging Face model plus its tokenizer, seen through its input embeddings.

    ``embedding_owner`` is the module whose ``get_input_embeddings()`` holds the table; it is the model
    itself except for two-tower models such as CLIP, whose table belongs to the text tower.
    """

    def __init__(self, model: nn.Module, tokenizer: PreTrainedTokenizerBase, embedding_owner: nn.Module | None = None):
        if not isinstance(tokenizer, PreTrainedTokenizerBase):
            raise TypeError(f"tokenizer must be a Hugging Face tokenizer, got {type(tokenizer).__name__}")
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self._embedding_layer = input_embedding_layer(embedding_owner if embedding_owner is not None else model)
        if len(tokenizer) > self.embedding_table.shape[0]:  # would fail later as an opaque index error
            raise ValueError(
                f"tokenizer {type(tokenizer).__name__} has {len(tokenizer)} ids but {type(model).__name__}'s embedding "
                f"table has only {self.embedding_table.shape[0]} rows: this tokenizer does not belong to this model"
            )

    @property
    def embedding_table(self) -> torch.Tensor:
        """The input embedding rows, (V, d): what a one-hot token matrix multiplies."""
        return self._embedding_layer.weight  # (V, d)

    @property
    def device(self) -> torch.device:
        return self.embedding_table.device

    @property
    def max_positions(self) -> int | None:
        """The most tokens the (text) model reads at once, special tokens included, from its config; None if
        the config does not say (GPT-2 calls it n_positions, most others max_position_embeddings)."""
        config = getattr(self.model.config, "text_config", None) or self.model.config
        return getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)

    def to(self, device: str | torch.device) -> "FrozenModel":
        self.model.to(resolve_device(device))
        return self

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The ``inputs_embeds`` the model itself would compute for these ids, (B, T) -> (B, T, d).

        Goes through the embedding layer rather than indexing the table, because a few architectures
        scale inside that layer.
        """
        return self._embedding_layer(input_ids.to(self.device))  # (B, T, d)

    def tokenize(self, texts: list[str], add_special_tokens: bool = True) -> dict[str, torch.Tensor]:
        """Right-padded ``input_ids`` and ``attention_mask``, (B, T) each, on the model's device.

        Pads by hand because GPT-2's tokenizer has no pad token; padded positions are masked out, so the
        id written there (the pad id when there is one, else 0) never matters.
        """
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"texts must be a list of strings, got {texts!r:.80}")
        ids = self.tokenizer(list(texts), add_special_tokens=add_special_tokens, truncation=True)["input_ids"]
        return pad_right(ids, self.tokenizer.pad_token_id or 0, self.device)

