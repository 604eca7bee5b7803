"""Train the toy LM: a 2-layer, 64-wide GPT-2 with the real GPT-2 tokenizer, on the toy caption language.

Almost all of its parameters are the 50,257 x 64 token table, which is initialised from MiniLM's view of
every token string and frozen (``token_init``); the LM head is tied to it, so the transformer learns to
point its last hidden state at the right fixed rows. Sentences are ``<eos> caption <eos>``, drawn from
``caption_corpus`` (canonical captions, templated variants, sentiment captions). The loss is computed
only where a target exists (``evaluate.lm_target_loss``). Fixed step count, seeded: two runs with the
same number of torch threads agree bit for bit (thread counts change float summation order).

Speed: the 50,257-way output projection is almost the whole cost of a step, so the first 85% of steps
use a sampled softmax (``sampled_target_loss``: the ~75 corpus tokens plus 4,096 random others) and
only the last 15% the exact one. The frozen table's rows have norm ~4 (std 0.5), like trained GPT-2's
own: with GPT-2's usual 0.02 the tied head's logits stay flat for hundreds of steps while the final
LayerNorm gain grows.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel

from fuse_edu.progress import progress_bar
from fuse_edu.runtime import seed_everything
from fuse_edu.text import load_tokenizer
from fuse_edu.toyworld.captions import caption_corpus
from fuse_edu.toyworld.evaluate import lm_batch, lm_target_loss
from fuse_edu.toyworld.token_init import freeze_token_table, init_token_table

LM_NAME = "toy-lm"
LM_WIDTH = 64
LM_LAYERS = 2
LM_HEADS = 4
LM_POSITIONS = 64   # the longest toy sentence is ~30 GPT-2 tokens
TABLE_STD = 0.5     # rows of norm ~4, like trained GPT-2's own table: the tied head reaches sharp logits early


def lm_config(vocab_size: int, eos_token_id: int) -> GPT2Config:
    """The toy LM's architecture. No dropout: small data seen a few times, and runs must match exactly."""
    return GPT2Config(
        vocab_size=vocab_size, n_positions=LM_POSITIONS, n_embd=LM_WIDTH, n_layer=LM_LAYERS,
        n_head=LM_HEADS, n_inner=4 * LM_WIDTH, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=eos_token_id, eos_token_id=eos_token_id, pad_token_id=eos_token_id,
        tie_word_embeddings=True,
    )


def sampled_target_loss(model, batch: dict[str, torch.Tensor], always: torch.Tensor, n_sampled: int,
                        generator: torch.Generator) -> torch.Tensor:
    """Next-token cross-entropy over a candidate set instead of all 50,257 tokens.

    Candidates: every token of the training corpus (``always``, a few hundred ids) plus ``n_sampled``
    others drawn uniformly without replacement. Each sampled token stands for (V - |always|) / n_sampled
    tokens, so its logit gets log of that added: the softmax normaliser then estimates the full one.
    The full vocabulary projection dominates a tiny GPT-2's step; this makes the step several times
    cheaper, and the last steps of ``train_lm`` use the exact loss so every token is pushed down.
    """
    vocab_size = model.config.vocab_size
    hidden = model.transformer(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]                                   # (B, T-1)
    keep = targets != -100
    states, targets = hidden[:, :-1][keep], targets[keep]               # (N, d), (N,)
    outside = torch.ones(vocab_size, dtype=torch.bool)
    outside[always] = False
    others = outside.nonzero().squeeze(1)                              # (V - K,)
    sampled = others[torch.randperm(len(others), generator=generator)[:n_sampled]]  # (S,)
    candidates = torch.cat([always, sampled])                          # (K + S,) always first
    correction = torch.zeros(len(candidates))                          # (K + S,)
    correction[len(always):] = math.log(len(others) / len(sampled))
    logits = states @ model.transformer.wte.weight[candidates].T + correction  # (N, K + S)
    position = torch.full((vocab_size,), -1, dtype=torch.long)
    position[always] = torch.arange(len(always))
    return F.cross_entropy(logits, position[targets])


def _lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_lm(steps: int = 1000, batch_size: int = 64, seed: int = 0, lr: float = 1e-2,
             corpus_size: int = 40_000, n_sampled: int = 4096, exact_share: float = 0.15,
             freeze_table: bool = True, progress: bool = True) -> tuple[GPT2LMHeadModel, object]:
    """Train and return ``(model, tokenizer)``; the model is float32, in eval mode.

    ``freeze_table=False`` exists only to measure what freezing costs; the shipped LM is frozen.
    """
    generator = seed_everything(seed)
    tokenizer = load_tokenizer("gpt2")
    model = GPT2LMHeadModel(lm_config(len(tokenizer), tokenizer.eos_token_id))
    freeze_token_table(model.transformer.wte, init_token_table(tokenizer, LM_WIDTH, name=LM_NAME, seed=seed,
                                                                std=TABLE_STD))
    assert model.lm_head.weight is model.transformer.wte.weight, "the LM head must stay tied to the frozen table"
    model.transformer.wte.weight.requires_grad_(not freeze_table)

    corpus = caption_corpus(corpus_size, seed)
    batch_all = lm_batch(tokenizer, corpus, LM_POSITIONS)  # tokenized once: (corpus_size, T_max)
    lengths = batch_all["attention_mask"].sum(1)           # (corpus_size,)
    always = torch.unique(batch_all["input_ids"])          # (K,) every token the corpus uses
    exact_from = steps - int(exact_share * steps)          # the last steps use the full softmax

    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.dim() >= 2]
    no_decay = [p for p in trainable if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98))
    model.train()
    bar = progress_bar(range(steps), desc="toy LM", show=progress, mininterval=2)
    for step in bar:
        rows = torch.randint(0, corpus_size, (batch_size,), generator=generator)  # (B,)
        width = int(lengths[rows].max())                   # trim the padding every row shares
        batch = {k: v[rows, :width] for k, v in batch_all.items()}  # each (B, T)
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, steps, lr, warmup=steps // 20)
        if step >= exact_from:
            loss = lm_target_loss(model, batch)
        else:
            loss = sampled_target_loss(model, batch, always, n_sampled, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    return model, tokenizer
