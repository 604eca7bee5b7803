"""``DualEncoder``: a CLIP-like model as "does this text match that image", written on input embeddings.

The FUSE objective's image term is 1 - cos(text feature of the prompt, image feature). CLIP's text
tower in transformers only takes token ids, so ``text_features_from_embeddings`` runs the tower's parts
in order, the same parts ``get_text_features`` runs: token embeddings + position embeddings, a causal
mask, the encoder, the final layer norm, the feature at the end-of-text token, the text projection.
A test holds it equal to ``encode_texts`` on the same tokens.

CLIP reads its text feature at the end-of-text token. Rather than hard-code CLIP's ids (49406/49407),
we pool at each row's last attended position and check, once, that this tokenizer really ends every
text with its end-of-text token, the one the model's config names.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from PIL import Image
from transformers import AutoImageProcessor, AutoModel, PreTrainedModel, PreTrainedTokenizerBase
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from transformers.masking_utils import create_causal_mask

from fuse_edu.hub import load_from_hub_or_path
from fuse_edu.models.base import OFFLINE_HINT, FrozenModel, check_right_padded, resolve_tokenizer

log = logging.getLogger(__name__)

# create_causal_mask's cache argument was renamed (past_key_values -> cache); we pass None either way.
_CACHE_ARG = "cache" if "cache" in inspect.signature(create_causal_mask).parameters else "past_key_values"
# Checkpoints saved before transformers PR #24773 carry eos_token_id 2, a placeholder: they pool at the
# highest id in the sequence, which for CLIP's vocabulary is the end-of-text token.
_LEGACY_EOS_ID = 2


def clip_image_processor(image_size: int):
    """CLIP's preprocessing at this model's resolution: shortest edge to ``image_size``, centre crop,
    CLIP's mean and std. Used when a checkpoint ships no processor (the toy CLIP sees 64-px scenes).

    The PIL backend needs no torchvision, and our inputs are PIL images anyway.
    """
    processor_class = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    return processor_class(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size},
        image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD,
    )


class DualEncoder(FrozenModel):
    """A frozen CLIP-like model (``transformers.CLIPModel`` and models laid out like it)."""

    # what text_features_from_embeddings and the encode_* methods use
    REQUIRED_PARTS = ("text_model", "text_projection", "get_text_features", "get_image_features")

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, image_processor=None):
        missing = [part for part in self.REQUIRED_PARTS if not hasattr(model, part)]
        if missing:
            raise TypeError(f"{type(model).__name__} is not laid out like transformers.CLIPModel: it has no "
                            f"{', '.join(missing)}")
        super().__init__(model, tokenizer, embedding_owner=model.text_model)
        self.image_processor = image_processor or clip_image_processor(model.config.vision_config.image_size)
        self._check_text_ends_with_eos()

    @classmethod
    def load(cls, name_or_path: str | Path, tokenizer: PreTrainedTokenizerBase | str | None = None,
             device: str | torch.device = "cpu") -> "DualEncoder":
        """``load_dual_encoder``: by hub id or local folder."""
        return load_dual_encoder(name_or_path, tokenizer=tokenizer, device=device)

    def _check_text_ends_with_eos(self) -> None:
        eos_id, ids = self.tokenizer.eos_token_id, self.tokenizer("a")["input_ids"]
        if eos_id is None or ids[-1] != eos_id:
            raise ValueError(
                f"{type(self.tokenizer).__name__} does not end a text with an end-of-text token (it encodes 'a' as "
                f"{ids}); {type(self.model).__name__} reads its text feature at that token, so pass the model's own tokenizer"
            )
        config_eos_id = self.model.config.text_config.eos_token_id
        if config_eos_id not in (eos_id, _LEGACY_EOS_ID):
            raise ValueError(
                f"the tokenizer's end-of-text id is {eos_id} but {type(self.model).__name__}'s config says "
                f"{config_eos_id}: this tokenizer does not belong to this model"
            )

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """L2-normalised text features, (N, D), through the model's own ``get_text_features``."""
        batch = self.tokenize(texts)
        return F.normalize(_features(self.model.get_text_features(**batch)), dim=-1)  # (N, D)

    @torch.no_grad()
    def encode_images(self, images: list[Image.Image]) -> torch.Tensor:
        """L2-normalised image features, (N, D), after the processor resizes and normalises each image."""
        if isinstance(images, Image.Image):
            raise TypeError("encode_images takes a list of PIL images; wrap a single image in a list")
        pixel_values = self.image_processor(images=list(images), return_tensors="pt")["pixel_values"]  # (N, 3, S, S)
        pixel_values = pixel_values.to(self.device, self.embedding_table.dtype)
        return F.normalize(_features(self.model.get_image_features(pixel_values=pixel_values)), dim=-1)  # (N, D)

    def text_features_from_embeddings(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """L2-normalised text features, (B, D), from token embeddings (B, T, d) and a right-padded mask (B, T).

        ``inputs_embeds`` are token embeddings only (rows of ``embedding_table``); positions are added here,
        as the model would. Each row must end with the end-of-text token's embedding, as ``tokenize`` gives.
        """
        check_right_padded(attention_mask)
        text = self.model.text_model
        attention_mask = attention_mask.to(self.device)  # (B, T)
        hidden = text.embeddings(inputs_embeds=inputs_embeds.to(self.device, self.embedding_table.dtype))  # (B, T, d)
        mask = create_causal_mask(config=text.config, inputs_embeds=hidden, attention_mask=attention_mask,
                                  **{_CACHE_ARG: None})
        hidden = text.encoder(inputs_embeds=hidden, attention_mask=mask, is_causal=True).last_hidden_state  # (B, T, d)
        hidden = text.final_layer_norm(hidden)  # (B, T, d)
        last = attention_mask.sum(dim=1) - 1  # (B,) the end-of-text position: right padding puts it last
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]  # (B, d)
        return F.normalize(self.model.text_projection(pooled), dim=-1)  # (B, D)

    def loss_from_embeddings(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                             image_features: torch.Tensor) -> torch.Tensor:
        """1 - cos(text feature, image feature), (B,).

        ``image_features``: (D,) one target for every row; (B, D) one per row; (M, D) with M != B, several
        views of one target (e.g. several images of the same caption), averaged. To average exactly B
        images, pass ``features.mean(0)``.
        """
        text_features = self.text_features_from_embeddings(inputs_embeds, attention_mask)  # (B, D)
        target = image_features.to(text_features.device, text_features.dtype)
        if target.ndim == 1:
            target = target[None]  # (1, D)
        if target.ndim != 2 or target.shape[1] != text_features.shape[1]:
            raise ValueError(
                f"image_features must have shape (D,), (B, D) or (M, D) with D = {text_features.shape[1]}, "
                f"got {tuple(image_features.shape)}"
            )
        if target.shape[0] != text_features.shape[0]:
            target = target.mean(dim=0, keepdim=True)  # (1, D): the mean direction of the M views
        target = F.normalize(target, dim=-1)  # (B, D) or (1, D)
        return 1 - (text_features * target).sum(dim=-1)  # (B,)


def _features(output) -> torch.Tensor:
    """transformers 5 returns an output object from get_*_features (``.pooler_output``); 4.x a tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _saved_image_processor(name_or_path: str | Path):
    """The image processor saved with the checkpoint, or None when it has none (then we build CLIP's)."""
    local = Path(name_or_path).expanduser()
    if local.exists():
        has_config = (local / "preprocessor_config.json").is_file()
        return AutoImageProcessor.from_pretrained(str(local)) if has_config else None
    try:
        return load_from_hub_or_path(AutoImageProcessor.from_pretrained, str(name_or_path), OFFLINE_HINT)
    except OSError as error:
        log.info("no image processor for %s (%s); using CLIP's preprocessing at the model's image size",
                 name_or_path, error)
        return None


def load_dual_encoder(name_or_path: str | Path, tokenizer: PreTrainedTokenizerBase | str | None = None,
                      device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                      image_processor=None) -> DualEncoder:
    """A CLIP-like model by hub id or local folder, with the tokenizer and image processor saved beside it
    unless given (no saved processor: CLIP's preprocessing at the vision config's image size)."""
    model = load_from_hub_or_path(AutoModel.from_pretrained, str(name_or_path), OFFLINE_HINT, dtype=dtype)
    if image_processor is None:
        image_processor = _saved_image_processor(name_or_path)
    return DualEncoder(model, resolve_tokenizer(tokenizer, name_or_path), image_processor).to(device)
