"""Candidate prompts, built and scored in batches on the device: what every discrete optimiser shares.

A step of GCG, random search or AutoDAN is "make n variants of the current prompt, score them all,
keep the best". Everything here works on whole batches with gather/scatter and random draws from a
``torch.Generator`` on the objective's device: no Python loop per candidate or per position, and no
host-device synchronisation (no ``.item()``, ``.tolist()`` or boolean-mask indexing), so a step stays
asynchronous on a GPU. The one deliberate sync per step is the loop's history record.

- ``allowed_token_mask``   which vocabulary entries a prompt may use (default: " word" tokens)
- ``greedy_prompt``        the LM's greedy continuation of its prefix, as an initial prompt
- ``top_k_replacements``   GCG's top-k tokens per position from the one-hot gradient
- ``single_swap_candidates``, ``l0_candidates``, ``l2_candidates``, ``with_token_at``: candidate batches

The step loop that uses them (budget, history, progress bar, result) is ``fuse_edu.optim.loop``.
"""

from __future__ import annotations

import functools
import re

import torch

ALLOWED_KINDS = ("word", "lower", "alpha", "pieces", "all")
_PATTERNS = {"word": r" [A-Za-z]+", "lower": r" [a-z]+", "alpha": r" ?[A-Za-z]+", "pieces": r" ?[a-z]+",
             "all": r"(?s).+"}


@functools.lru_cache(maxsize=16)
def _allowed_cpu(tokenizer, kind: str, size: int) -> torch.Tensor:
    pattern = re.compile(_PATTERNS[kind])
    pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], clean_up_tokenization_spaces=False)
    mask = torch.zeros(size, dtype=torch.bool)
    mask[:len(pieces)] = torch.tensor([bool(pattern.fullmatch(p)) for p in pieces])
    mask[[i for i in tokenizer.all_special_ids if i < size]] = False
    return mask


def allowed_token_mask(tokenizer, kind: str = "word", size: int | None = None,
                       device: torch.device | str = "cpu") -> torch.Tensor:
    """(size,) bool: the tokens a prompt may use. ``size`` defaults to ``len(tokenizer)`` (pass the
    embedding table's row count when it is larger). Kinds:

    - ``word``:  a leading space then ASCII letters (" square", " Red"): every token starts a whole word,
      so the prompt decodes to words the other tokenizers can re-split (what FUSE aligns on);
    - ``lower``: the same, lower case only;
    - ``alpha``: ASCII letters with or without a leading space: word pieces too, so words that the
      tokenizer splits (" turquoise" = " tur" + "qu" + "oise" in GPT-2) can be spelled;
    - ``pieces``: the same, lower case only;
    - ``all``:   every token except special ones.
    """
    if kind not in ALLOWED_KINDS:
        raise ValueError(f"unknown allowed-token kind {kind!r}; accepted: {', '.join(ALLOWED_KINDS)}")
    mask = _allowed_cpu(tokenizer, kind, size or len(tokenizer))
    if not mask.any():
        raise ValueError(f"no token of {type(tokenizer).__name__} is allowed by kind {kind!r}")
    return mask.to(device)


@torch.no_grad()
def greedy_prompt(objective, length: int, allowed: torch.Tensor, start: list[int] | None = None) -> torch.Tensor:
    """(length,) ids: ``start`` (default none), then the primary LM's greedy continuation of prefix + start,
    restricted to ``allowed``.

    A fluent start ("a small red square" in the toy world) that the optimiser then bends toward the
    image. One LM call per position; this is initialisation, not the inner loop.
    """
    start = list(start or [])
    if len(start) > length:
        raise ValueError(f"the initial text has {len(start)} tokens, more than the prompt length {length}")
    ids = torch.zeros(1, length, dtype=torch.long, device=objective.device)         # (1, L)
    mask = torch.zeros_like(ids)                                                     # (1, L): nothing yet
    ids[0, :len(start)] = torch.tensor(start, dtype=torch.long)
    mask[0, :len(start)] = 1
    blocked = torch.where(allowed.to(objective.device), 0.0, float("-inf"))          # (V,)
    for t in range(len(start), length):
        logprobs = objective.next_token_logprobs(ids, mask)[0]                      # (V,)
        ids[0, t] = (logprobs + blocked[:logprobs.shape[0]]).argmax()
        mask[0, t] = 1
    return ids[0]


def top_k_replacements(grad: torch.Tensor, current: torch.Tensor, allowed: torch.Tensor, k: int) -> torch.Tensor:
    """GCG's candidates per position: the k allowed tokens with the most negative one-hot gradient.

    grad (T, V), current (T,) -> (T, k) token ids. The current token is excluded, so every swap changes
    the prompt; ``k`` must stay below the number of allowed tokens (callers check once, not per step).
    """
    score = grad.masked_fill(~allowed[:grad.shape[1]], float("inf"))                 # (T, V)
    score = score.scatter(1, current[:, None], float("inf"))                        # never "swap" to itself
    return (-score).topk(k, dim=1).indices                                          # (T, k)


def single_swap_candidates(current: torch.Tensor, replacements: torch.Tensor, n: int,
                           generator: torch.Generator) -> torch.Tensor:
    """n distinct prompts, each ``current`` (T,) with one position swapped for one of its ``replacements``
    (T, k): (min(n, T*k), T). Drawn without replacement from the T*k (position, token) pairs."""
    T, k = replacements.shape
    pick = torch.randperm(T * k, generator=generator, device=current.device)[:n]    # (n,)
    position, choice = pick // k, pick % k                                          # (n,), (n,)
    tokens = replacements[position, choice]                                         # (n,)
    return current.expand(len(pick), T).scatter(1, position[:, None], tokens[:, None])  # (n, T)


def with_token_at(current: torch.Tensor, position: int, tokens: torch.Tensor) -> torch.Tensor:
    """``current`` (T,) with ``tokens`` (n,) written at ``position``: (n, T). AutoDAN's candidate batch."""
    candidates = current.expand(tokens.shape[0], current.shape[0]).clone()          # (n, T)
    candidates[:, position] = tokens
    return candidates


def l0_candidates(current: torch.Tensor, n: int, radius: int, allowed_ids: torch.Tensor,
                  generator: torch.Generator) -> torch.Tensor:
    """n prompts in the L0 ball around ``current`` (T,): each changes r ~ U{1..radius} random positions to
    random allowed tokens (a draw may land on the token already there, so "up to r"). (n, T)."""
    T, device = current.shape[0], current.device
    r = torch.randint(1, min(radius, T) + 1, (n, 1), generator=generator, device=device)       # (n, 1)
    rank = torch.rand(n, T, generator=generator, device=device).argsort(1).argsort(1)         # (n, T) random order
    new = allowed_ids[torch.randint(len(allowed_ids), (n, T), generator=generator, device=device)]  # (n, T)
    return torch.where(rank < r, new, current.expand(n, T))                                    # (n, T)


def l2_candidates(current_embeds: torch.Tensor, n: int, radius: float, allowed_ids: torch.Tensor,
                  allowed_table: torch.Tensor, generator: torch.Generator, chunk_size: int = 64) -> torch.Tensor:
    """n prompts from the L2 ball: add Gaussian noise of total norm ``radius`` to the prompt's embeddings
    (T, d), then project every position to its nearest allowed row (Euclidean). (n, T) ids.

    Nearest row via argmax(2 x.e - |e|^2), chunked over candidates: n*T*A scores would not fit at once.
    """
    T, d = current_embeds.shape
    noise = torch.randn(n, T, d, generator=generator, device=current_embeds.device)           # (n, T, d)
    noise = noise * (radius / noise.flatten(1).norm(dim=1).clamp(min=1e-12))[:, None, None]
    points = (current_embeds.float() + noise).reshape(n * T, d)                                # (n*T, d)
    rows = allowed_table.float()                                                               # (A, d)
    half_norm = 0.5 * rows.pow(2).sum(1)                                                       # (A,)
    nearest = torch.cat([(chunk @ rows.T - half_norm).argmax(1)                                # (c*T,)
                         for chunk in points.split(chunk_size * T)])
    return allowed_ids[nearest].reshape(n, T)                                                  # (n, T)
