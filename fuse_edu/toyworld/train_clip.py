"""Train the toy CLIP: a ``transformers.CLIPModel`` with the real CLIP tokenizer, on rendered toy scenes.

Vision: a ViT on 64-px images with 8-px patches (64 patches + CLS), 64 wide, 2 layers, feed-forward 2x
wide. Text: 64 wide, 2 layers, 32 positions, the full 49,408-token CLIP vocabulary; its token table is
initialised from MiniLM's view of every token string and frozen (``token_init``), so only 64 x 49,408
fixed numbers and a small transformer decide what a caption means.

Data: a fixed pool of scenes (40% one-object, 60% two-object) rendered once per run. Each step draws
scenes from the pool and one text per scene: the canonical caption 40% of the time, otherwise a templated
variant or a sentiment caption, so CLIP reads the whole caption language the LM speaks and learns that
opinion words say nothing about the image. The contrastive loss uses soft targets: two scenes with the
same canonical caption are both right answers for each other's text, instead of false negatives.

Hard negatives. Every step also scores each image against all 160 single-object canonical captions
(``candidate_captions(1)``), the captions that differ from the right one by one word: a batch of 64
random scenes rarely holds "a small red star" next to "a large red star". Each two-object image is also
scored against captions that get one of its objects wrong (``two_object_texts``): its two shapes swapped,
or one shape changed. Without them CLIP learns which colours a two-object scene holds but hardly which
shapes, a bag of words rather than a reading (``benchmarks/results/toy_training.md``).

Presence probe. A linear head on the image features predicts which colour-shape pairs the image holds,
trained with the model (weight ``PRESENCE_WEIGHT``) and discarded afterwards: the shipped model is a plain
``CLIPModel``. It gives the vision tower a direct per-object signal, which the contrastive loss alone
delivers slowly when two objects share one image vector.

Why a narrow vision tower trained long: colour and size are learnt early, while shape (hexagon vs
square, cross vs triangle) is the slow part and needs *steps* more than width, so at equal compute a
narrow, deeper-trained tower reads shapes better than a wide one. The bar is colour and shape right on
>= 90% of held-out single-object scenes; ``training_report.json`` beside the weights records the
shipped run, and ``benchmarks/results/toy_training.md`` the measurements behind the recipe.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPConfig, CLIPModel

from fuse_edu.batching import pad_right
from fuse_edu.progress import progress_bar
from fuse_edu.runtime import seed_everything
from fuse_edu.text import load_tokenizer
from fuse_edu.toyworld.captions import candidate_captions, caption, captions, sentiment_caption
from fuse_edu.toyworld.evaluate import IMAGE_SIZE, images_to_pixels
from fuse_edu.toyworld.scenes import COLORS, SHAPES, Scene, render_scene, sample_scenes
from fuse_edu.toyworld.token_init import freeze_token_table, init_token_table

CLIP_NAME = "toy-clip"
TEXT_WIDTH = 64
VISION_WIDTH = 64
VISION_LAYERS = 2
VISION_MLP_RATIO = 2  # feed-forward width / width: a cheaper step buys more steps, which shapes need more
PATCH_SIZE = 8    # 8x8 patches: with 16-px ones a hexagon and a square differ in a few pixels of one patch
TEXT_POSITIONS = 32  # the longest toy caption is ~28 CLIP tokens with BOS and EOS
TABLE_STD = 0.02     # CLIP's own initializer range; the text tower LayerNorms its input anyway
SINGLE_SHARE = 0.4    # of pool scenes with one object; two-object scenes are the harder reading
CANONICAL_SHARE = 0.4  # the 160 candidates already add canonical single-object captions every step
TEXT_BUCKETS = 3       # length groups the step's texts run in (padding a 7-token caption to 25 wastes 3x)
PRESENCE_WEIGHT = 1.0  # weight of the auxiliary "which colour-shape pairs are in the image" loss


def clip_config(tokenizer) -> CLIPConfig:
    """The toy CLIP's architecture; special-token ids come from the tokenizer, never hard-coded."""
    text = dict(
        vocab_size=len(tokenizer), hidden_size=TEXT_WIDTH, intermediate_size=4 * TEXT_WIDTH,
        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=TEXT_POSITIONS,
        # pooling reads the hidden state at the first EOS; pad = EOS keeps that the caption's real end
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = dict(
        hidden_size=VISION_WIDTH, intermediate_size=VISION_MLP_RATIO * VISION_WIDTH, num_hidden_layers=VISION_LAYERS,
        num_attention_heads=4, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, num_channels=3,
    )
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=TEXT_WIDTH)


def sincos_positions(grid: int, width: int) -> torch.Tensor:
    """2-D sine-cosine position codes for a ``grid`` x ``grid`` patch layout, (grid * grid, width).

    A ViT trained from scratch on a few thousand images spends its first hundreds of steps discovering
    which patches are neighbours; started from this layout (as in MAE) it learns shapes sooner. The
    codes stay trainable.
    """
    y, x = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32),
                          indexing="ij")
    quarter = width // 4
    omega = 1.0 / 10_000 ** (torch.arange(quarter, dtype=torch.float32) / quarter)  # (width/4,)
    xs, ys = x.flatten()[:, None] * omega, y.flatten()[:, None] * omega             # (grid^2, width/4)
    return torch.cat([xs.sin(), xs.cos(), ys.sin(), ys.cos()], dim=1)                # (grid^2, width)


def build_pool(pool_size: int, seed: int) -> tuple[list[Scene], np.ndarray, list[str], list[list[str]]]:
    """The pool's scenes; their renders, (P, 64, 64, 3) uint8; canonical captions; and every text used for each."""
    rng = random.Random(f"clip_pool:{seed}")
    singles = round(SINGLE_SHARE * pool_size)
    scenes = sample_scenes(singles, seed, objects=1) + sample_scenes(pool_size - singles, seed + 1, objects=2)
    images = np.stack([np.asarray(render_scene(s, IMAGE_SIZE)) for s in progress_bar(
        scenes, desc="render pool", mininterval=2)])  # (P, 64, 64, 3)
    canonical = [caption(s) for s in scenes]
    texts = [captions(s)[1:] + [sentiment_caption(s, "positive", rng), sentiment_caption(s, "negative", rng)]
             for s in scenes]
    return scenes, images, canonical, texts


COMBO_INDEX = {(c, sh): k for k, (c, sh) in enumerate((c, sh) for c in COLORS for sh in SHAPES)}  # 80 pairs


def two_object_texts(scene: Scene, rng: random.Random) -> list[str]:
    """A two-object scene's canonical caption, then its hard negatives: captions that differ from it in what
    one object *is*, never only in order. The two shapes swapped between the objects (when that is another
    scene), and one object, picked at random, with another shape. The caption itself comes along so the
    image meets its negatives beside its right answer, whichever text the step drew for it."""
    a, b = scene.objects
    pairs = []
    # with one colour, or one shape, swapping shapes only reverses the order: the same scene
    if a.color != b.color and a.shape != b.shape:
        pairs.append((replace(a, shape=b.shape), replace(b, shape=a.shape)))
    first = rng.random() < 0.5
    obj, other = (a, b) if first else (b, a)
    new = replace(obj, shape=rng.choice([s for s in SHAPES if s != obj.shape and (obj.color, s) != (other.color, other.shape)]))
    pairs.append((new, b) if first else (a, new))
    return [caption(scene)] + [caption(replace(scene, objects=pair)) for pair in pairs]


def _lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def length_buckets(lengths: list[int], buckets: int) -> list[list[int]]:
    """Indices of rows split into at most ``buckets`` groups of similar length, chosen to pad the fewest
    tokens: the rows sorted by length, cut where the (exact, small) dynamic programme says."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    sizes = sorted(set(lengths))
    upto = [sum(1 for n in lengths if n <= size) for size in sizes]             # rows of at most each size
    # cost[k][j]: fewest tokens for the rows up to sizes[j] in k + 1 groups, the last one ending at j
    inf = float("inf")
    cost = [[inf] * len(sizes) for _ in range(buckets)]
    cut = [[-1] * len(sizes) for _ in range(buckets)]
    for j, size in enumerate(sizes):
        cost[0][j] = upto[j] * size
    for k in range(1, buckets):
        for j, size in enumerate(sizes):
            for i in range(j):
                c = cost[k - 1][i] + (upto[j] - upto[i]) * size
                if c < cost[k][j]:
                    cost[k][j], cut[k][j] = c, i
    k = min(range(buckets), key=lambda k: cost[k][-1])
    ends, j = [], len(sizes) - 1
    while j >= 0 and k >= 0:
        ends.append(upto[j])
        j, k = cut[k][j], k - 1
    starts = [0] + sorted(ends)[:-1]
    return [order[a:b] for a, b in zip(starts, sorted(ends))]


def _text_embeds(model, rows: list[list[int]], pad_id: int) -> torch.Tensor:
    """Unit-norm text features of token-id rows, (N, p). Rows run in a few batches of similar length: the
    160 candidates are 7 tokens, and padding them to a long caption's 25 would cost three times as much."""
    groups = length_buckets([len(r) for r in rows], TEXT_BUCKETS)
    features = []
    for group in groups:
        padded = pad_right([rows[i] for i in group], pad_id)
        features.append(model.get_text_features(input_ids=padded["input_ids"],
                                                attention_mask=padded["attention_mask"]).pooler_output)
    order = torch.tensor([i for group in groups for i in group])                                    # (N,)
    return F.normalize(torch.cat(features)[order.argsort()], dim=-1)                                # (N, p)


def train_clip(steps: int = 4800, batch_size: int = 64, seed: int = 0, lr: float = 1.4e-3,
               pool_size: int = 12_000, progress: bool = True) -> tuple[CLIPModel, object]:
    """Train and return ``(model, tokenizer)``; the model is float32, in eval mode."""
    generator = seed_everything(seed)
    tokenizer = load_tokenizer("clip")
    model = CLIPModel(clip_config(tokenizer))
    freeze_token_table(model.text_model.embeddings.token_embedding,
                       init_token_table(tokenizer, TEXT_WIDTH, name=CLIP_NAME, seed=seed, std=TABLE_STD))

    positions = model.vision_model.embeddings.position_embedding.weight     # (1 + grid^2, width)
    with torch.no_grad():
        positions[0] = 0.0                                                    # the CLS token has no place
        positions[1:] = sincos_positions(IMAGE_SIZE // PATCH_SIZE, VISION_WIDTH)

    scenes, images, canonical, variants = build_pool(pool_size, seed)
    # Tokenize every distinct text once: CLIP's cleaning (ftfy) is too slow to run per step.
    candidates = candidate_captions(1)
    pairs = candidate_captions(2)   # every two-object hard negative is one of these
    vocabulary = sorted(set(canonical) | set(candidates) | set(pairs) | {t for row in variants for t in row})
    encoded = tokenizer(vocabulary, truncation=True, max_length=TEXT_POSITIONS)["input_ids"]
    text_ids = dict(zip(vocabulary, encoded))
    caption_class = {c: i for i, c in enumerate(sorted(set(canonical) | set(candidates) | set(pairs)))}
    classes = torch.tensor([caption_class[c] for c in canonical])                 # (P,) same content, same class
    candidate_classes = torch.tensor([caption_class[c] for c in candidates])      # (C,)
    candidate_ids = [text_ids[c] for c in candidates]
    two_object = [len(s.objects) == 2 for s in scenes]                             # (P,)
    # what each image holds, as a distribution over the 80 colour-shape pairs
    present = torch.zeros(len(scenes), len(COMBO_INDEX))                           # (P, 80)
    for i, scene in enumerate(scenes):
        for obj in scene.objects:
            present[i, COMBO_INDEX[(obj.color, obj.shape)]] = 1.0 / len(scene.objects)

    # A linear probe from image features to colour-shape pairs, trained with the model and then discarded.
    presence_head = torch.nn.Linear(model.config.projection_dim, len(COMBO_INDEX))
    trainable = [p for p in model.parameters() if p.requires_grad] + list(presence_head.parameters())
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.05, betas=(0.9, 0.98))
    choice_rng = random.Random(f"clip_texts:{seed}")
    negative_rng = random.Random(f"clip_negatives:{seed}")
    model.train()
    bar = progress_bar(range(steps), desc="toy CLIP", show=progress, mininterval=2)
    for step in bar:
        rows = torch.randint(0, pool_size, (batch_size,), generator=generator)  # (B,)
        texts = [canonical[i] if choice_rng.random() < CANONICAL_SHARE else choice_rng.choice(variants[i])
                 for i in rows.tolist()]
        pixels = images_to_pixels(images[rows.numpy()])                         # (B, 3, 64, 64)

        raw_image = model.get_image_features(pixel_values=pixels).pooler_output  # (B, p)
        image_embeds = F.normalize(raw_image, dim=-1)                            # (B, p)
        presence = F.cross_entropy(presence_head(raw_image), present[rows])
        hard = [t for i in rows.tolist() if two_object[i] for t in two_object_texts(scenes[i], negative_rng)]
        text_embeds = _text_embeds(model, [text_ids[t] for t in texts] + candidate_ids + [text_ids[t] for t in hard],
                                   tokenizer.pad_token_id)                                               # (B + C + H, p)
        logits = model.logit_scale.exp().clamp(max=100) * image_embeds @ text_embeds.T                     # (B, B + C + H)
        hard_classes = torch.tensor([caption_class[t] for t in hard], dtype=torch.long)                     # (H,)
        text_classes = torch.cat([classes[rows], candidate_classes, hard_classes])                          # (B + C + H,)
        same = (classes[rows][:, None] == text_classes[None, :]).float()                                   # (B, B + C + H)
        image_to_text = F.cross_entropy(logits, same / same.sum(1, keepdim=True))
        # text -> image over the batch's own texts only: a candidate caption may match no image here
        own = same[:, :batch_size]                                                                          # (B, B)
        text_to_image = F.cross_entropy(logits[:, :batch_size].T, own.T / own.T.sum(1, keepdim=True))
        loss = 0.5 * (image_to_text + text_to_image) + PRESENCE_WEIGHT * presence

        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, steps, lr, warmup=steps // 20)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", scale=f"{model.logit_scale.exp().item():.1f}")
    model.eval()
    return model, tokenizer
