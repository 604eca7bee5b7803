"""The frozen models FUSE optimises a prompt against, each seen through its input embeddings, and presets.

Every wrapper has ``.tokenizer``, ``.model``, ``.embedding_table`` (V, d), ``.device``, ``.to(device)``,
``.embed(input_ids)``, ``.tokenize(texts)``, ``.load(name_or_path)`` and
``.loss_from_embeddings(inputs_embeds, attention_mask, ...)`` returning one loss per sequence, (B,):

- ``CausalLM``            any ``AutoModelForCausalLM``: next-token NLL (fluency)
- ``DualEncoder``         CLIP-like: ``encode_texts``, ``encode_images``, 1 - cos(text, image)
- ``SequenceClassifier``  any ``AutoModelForSequenceClassification``: ``predict``, cross-entropy toward a label

Load one by hub id or local folder (``CausalLM.load``, ...), or a whole preset, a ``{role: model}``
mapping with its word policy: ``load_preset("toy")`` (offline default) or ``load_preset("paper")``.
"""

from fuse_edu.models.base import FrozenModel, input_embedding_layer
from fuse_edu.models.causal_lm import CausalLM, load_causal_lm
from fuse_edu.models.checkpoints import CheckpointError, check_checkpoint
from fuse_edu.models.classifier import SequenceClassifier, label_names, load_sequence_classifier
from fuse_edu.models.dual_encoder import DualEncoder, clip_image_processor, load_dual_encoder
from fuse_edu.models.presets import (
    DEFAULT_PRESET, PRESETS, ModelSource, Preset, PresetSpec, WordPolicy, load_model, load_preset, preset_spec,
)

__all__ = [
    "DEFAULT_PRESET", "PRESETS", "CausalLM", "CheckpointError", "DualEncoder", "FrozenModel", "ModelSource",
    "Preset", "PresetSpec", "SequenceClassifier", "WordPolicy", "check_checkpoint", "clip_image_processor",
    "input_embedding_layer", "label_names", "load_causal_lm", "load_dual_encoder", "load_model", "load_preset",
    "load_sequence_classifier", "preset_spec",
]
