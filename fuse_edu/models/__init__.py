"""The frozen models FUSE optimises a prompt against, each seen through its input embeddings.

Every wrapper has ``.tokenizer``, ``.model``, ``.embedding_table`` (V, d), ``.device``, ``.to(device)``,
``.embed(input_ids)``, ``.tokenize(texts)`` and ``.loss_from_embeddings(inputs_embeds, attention_mask, ...)``
returning one loss per sequence, (B,):

- ``CausalLM``            any ``AutoModelForCausalLM``: next-token NLL (fluency)
- ``DualEncoder``         CLIP-like: ``encode_texts``, ``encode_images``, 1 - cos(text, image)
- ``SequenceClassifier``  any ``AutoModelForSequenceClassification``: ``predict``, cross-entropy toward a label

Load by hub id or local folder (``load_causal_lm``, ``load_dual_encoder``, ``load_sequence_classifier``),
or all three at once by preset: ``load_preset("toy")`` (offline default) or ``load_preset("paper")``.
"""

from fuse_edu.models.base import FrozenModel, input_embedding_layer
from fuse_edu.models.causal_lm import CausalLM, load_causal_lm
from fuse_edu.models.classifier import SequenceClassifier, label_names, load_sequence_classifier
from fuse_edu.models.dual_encoder import DualEncoder, clip_image_processor, load_dual_encoder
from fuse_edu.models.presets import (
    DEFAULT_PRESET, PRESETS, CheckpointError, ModelSource, Preset, PresetSpec, check_checkpoint, load_preset,
)

__all__ = [
    "DEFAULT_PRESET", "PRESETS", "CausalLM", "CheckpointError", "DualEncoder", "FrozenModel", "ModelSource",
    "Preset", "PresetSpec", "SequenceClassifier", "check_checkpoint", "clip_image_processor",
    "input_embedding_layer", "label_names", "load_causal_lm", "load_dual_encoder", "load_preset",
    "load_sequence_classifier",
]
