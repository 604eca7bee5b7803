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

ALLOWED_KINDS = ("open", "word", "lower", "alpha", "pieces", "all")
_PATTERNS = {"word": r" [A-Za-z]+", "lower": r" [a-z]+", "alpha": r" ?[A-Za-z]+", "pieces": r" ?[a-z]+",
             "all": r"(?s).+"}


def _printable_text(piece: str) -> bool:
    """A token that writes visible text: printable characters only, not only whitespace, and no U+FFFD (the
    replacement character a byte-level token decodes to when it holds part of a multi-byte character)."""
    return bool(piece.strip()) and piece.isprintable() and "\ufffd" not in piece


@functools.lru_cache(maxsize=16)
def _allowed_cpu(tokenizer, kind: str, size: int) -> torch.Tensor:
    pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], clean_up_tokenization_spaces=False)
    if kind == "open":
        keep = [_printable_text(p) for p in pieces]
    else:
        pattern = re.compile(_PATTERNS[kind])
        keep = [bool(pattern.fullmatch(p)) for p in pieces]
    mask = torch.zeros(size, dtype=torch.bool)
    mask[:len(pieces)] = torch.tensor(keep)
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
    - ``open``:  every token that writes visible text: the whole vocabulary but special, control and
      whitespace-only tokens and partial UTF-8 bytes;
    - ``all``:   every token except special ones.
    """
    if kind not in ALLOWED_KINDS:
        raise ValueError(f"unknown allowed-token kind {kind!r}; accepted: {', '.join(ALLOWED_KINDS)}")
    mask = _allowed_cpu(tokenizer, kind, size or len(tokenizer))
    if not mask.any():
        raise ValueError(f"no token of {type(tokenizer).__name__} is allowed by kind {kind!r}")
    return mask.to(device)


def words_token_mask(tokenizer, words: list[str], size: int | None = None,
                     device: torch.device | str = "cpu", start_words: list[str] | None = None) -> torch.Tensor:
    """(size,) bool: every token of every word in ``words`` as it is tokenized mid-sentence (" turquoise":
    " tur", "qu", "oise"), plus the start-of-text spelling ("a", "There") of the ``start_words`` only (by
    default every word). A closed vocabulary: the toy world's models know only their caption lexicon,
    and every other row of their tables is noise to them.

    Why ``start_words``: a byte-level BPE spells a word without its leading space differently ("brown"
    vs " brown"). Allowed everywhere, those no-space tokens let a search glue words together ("a
    smallbrown circle"); only the words a text can start with need them.
    """
    openers = list(words) if start_words is None else list(start_words)
    mask = torch.zeros(size or len(tokenizer), dtype=torch.bool)
    for ids in tokenizer([" " + w for w in words] + openers, add_special_tokens=False)["input_ids"]:
        mask[ids] = True
    mask[[i for i in tokenizer.all_special_ids if i < mask.shape[0]]] = False
    if not mask.any():
        raise ValueError("words_token_mask: the word list gave no tokens")
    return mask.to(device)


@torch.no_grad()
def greedy_prompt(objective, length: int, allowed: torch.Tensor, start: list[int] | None = None,
                  stop_at_end: bool = False) -> tuple[torch.Tensor, int]:
    """``start`` (default none), then the primary LM's greedy continuation of prefix + start, restricted to
    ``allowed``: (length,) ids and how many of them are the prompt.

    A fluent start ("a small red square" in the toy world) that the optimiser then bends toward the
    image. With ``stop_at_end`` the prompt ends where the LM would rather end the text than continue with
    any allowed token (at least one token; the remaining slots repeat the last one and are masked out).
    One LM call per position; this is initialisation, not the inner loop.
    """
    start = list(start or [])
    if len(start) > length:
        raise ValueError(f"the initial text has {len(start)} tokens, more than the prompt length {length}")
    ids = torch.zeros(1, length, dtype=torch.long, device=objective.device)         # (1, L)
    mask = torch.zeros_like(ids)                                                     # (1, L): nothing yet
    ids[0, :len(start)] = torch.tensor(start, dtype=torch.long)
    mask[0, :len(start)] = 1
    blocked = torch.where(allowed.to(objective.device), 0.0, float("-inf"))          # (V,)
    end_id = objective.tokenizer.eos_token_id
    for t in range(len(start), length):
        logprobs = objective.next_token_logprobs(ids, mask)[0]                      # (V,)
        best = (logprobs + blocked[:logprobs.shape[0]]).max(0)
        if stop_at_end and t > 0 and end_id is not None and logprobs[end_id] > best.values:
            ids[0, t:] = ids[0, t - 1]
            return ids[0], t
        ids[0, t] = best.indices
        mask[0, t] = 1
    return ids[0], length


def top_k_replacements(grad: torch.Tensor, current: torch.Tensor, allowed: torch.Tensor, k: int) -> torch.Tensor:
    """GCG's candidates per position: the k allowed tokens with the most negative one-hot gradient.

    grad (T, V), current (T,) -> (T, k) token ids. The current token is excluded, so every swap changes
    the prompt; ``k`` must stay below the number of allowed tokens (callers check once, not per step).
    """
    score = grad.masked_fill(~allowed[:grad.shape[1]], float("inf"))                 # (T, V)
    score = score.scatter(1, current[:, None], float("inf"))                        # never "swap" to itself
    return (-score).topk(k, dim=1).indices                                          # (T, k)


def single_swap_candidates(current: torch.Tensor, replacements: torch.Tensor, n: int,
                           generator: torch.Generator, length: torch.Tensor | None = None) -> torch.Tensor:
    """n distinct prompts, each ``current`` (T,) with one position swapped for one of its ``replacements``
    (T, k): (min(n, T*k), T). Drawn without replacement from the T*k (position, token) pairs; with a
    ``length`` (0-d tensor), pairs at positions below it come first (a device-side ranking, no sync)."""
    T, k = replacements.shape
    keys = torch.rand(T * k, generator=generator, device=current.device)           # (T*k,) random order
    if length is not None:  # pairs past the prompt's end sort last
        keys = keys + 2.0 * (torch.arange(T * k, device=current.device) // k >= length)
    pick = keys.topk(min(n, T * k), largest=False).indices                          # (n,)
    position, choice = pick // k, pick % k                                          # (n,), (n,)
    tokens = replacements[position, choice]                                         # (n,)
    return current.expand(len(pick), T).scatter(1, position[:, None], tokens[:, None])  # (n, T)


def random_below(bound: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n,) random ints in [0, bound) for a 0-d device tensor ``bound`` >= 1, without reading it on the host."""
    u = torch.rand(n, generator=generator, device=bound.device)
    return (u * bound).long().clamp(max=bound - 1)


def delete_at(current: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """``current`` (T,) with the token at each of ``positions`` (n,) removed, later tokens shifted left: (n, T).
    The freed last slot repeats the last token; the caller's length (one less) masks it out."""
    T = current.shape[0]
    j = torch.arange(T, device=current.device)                                      # (T,)
    index = (j + (j >= positions[:, None]).long()).clamp(max=T - 1)                 # (n, T)
    return current[index]


def insert_at(current: torch.Tensor, positions: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``current`` (T,) with ``tokens`` (n,) inserted before ``positions`` (n,), later tokens shifted right
    (the last slot's token falls off): (n, T)."""
    T = current.shape[0]
    j = torch.arange(T, device=current.device)                                      # (T,)
    index = (j - (j > positions[:, None]).long()).clamp(min=0)                      # (n, T)
    return current[index].scatter(1, positions[:, None], tokens[:, None])           # (n, T)


@torch.no_grad()
def lm_top_tokens(objective, current: torch.Tensor, allowed: torch.Tensor, k: int) -> torch.Tensor:
    """(T, k): the LM's k likeliest allowed tokens after each prefix current[:i], i = 0..T-1: what to insert
    at position i. One batched LM call over the T prefixes (no slot of a prefix past i is attended)."""
    T = current.shape[0]
    prefixes = current.expand(T, T)                                                 # (T, T)
    mask = (torch.arange(T, device=current.device) < torch.arange(T, device=current.device)[:, None]).long()
    logprobs = objective.next_token_logprobs(prefixes, mask)                        # (T, V)
    return logprobs.masked_fill(~allowed[:logprobs.shape[1]], float("-inf")).topk(k, dim=1).indices  # (T, k)


def with_token_at(current: torch.Tensor, position: int, tokens: torch.Tensor) -> torch.Tensor:
    """``current`` (T,) with ``tokens`` (n,) written at ``position``: (n, T). AutoDAN's candidate batch."""
    candidates = current.expand(tokens.shape[0], current.shape[0]).clone()          # (n, T)
    candidates[:, position] = tokens
    return candidates


def l0_candidates(current: torch.Tensor, n: int, radius: int, allowed_ids: torch.Tensor,
                  generator: torch.Generator, length: torch.Tensor | None = None) -> torch.Tensor:
    """n prompts in the L0 ball around ``current`` (T,): each changes r ~ U{1..radius} random positions to
    random allowed tokens (a draw may land on the token already there, so "up to r"). (n, T). With a
    ``length`` (0-d tensor), positions below it are changed first."""
    T, device = current.shape[0], current.device
    r = torch.randint(1, min(radius, T) + 1, (n, 1), generator=generator, device=device)       # (n, 1)
    keys = torch.rand(n, T, generator=generator, device=device)                               # (n, T)
    if length is not None:  # positions past the prompt's end rank last
        keys = keys + 2.0 * (torch.arange(T, device=device) >= length)
    rank = keys.argsort(1).argsort(1)                                                          # (n, T) random order
    new = allowed_ids[torch.randint(len(allowed_ids), (n, T), generator=generator, device=device)]  # (n, T)
    return torch.where(rank < r, new, current.expand(n, T))                                    # (n, T)


def l2_candidates(current_embeds: torch.Tensor, n: int, radius: float, allowed_ids: torch.Tensor,
                  allowed_table: torch.Tensor, generator: torch.Generator, chunk_size: int = 64,
                  length: torch.Tensor | None = None) -> torch.Tensor:
    """n prompts from the L2 ball: add Gaussian noise of total norm ``radius`` to the prompt's embeddings
    (T, d), then project every position to its nearest allowed row (Euclidean). (n, T) ids. With a
    ``length`` (0-d tensor), only positions below it are pushed.

    Nearest row via argmax(2 x.e - |e|^2), chunked over candidates: n*T*A scores would not fit at once.
    """
    T, d = current_embeds.shape
    noise = torch.randn(n, T, d, generator=generator, device=current_embeds.device)           # (n, T, d)
    if length is not None:
        noise = noise * (torch.arange(T, device=noise.device) < length)[:, None]
    noise = noise * (radius / noise.flatten(1).norm(dim=1).clamp(min=1e-12))[:, None, None]
    points = (current_embeds.float() + noise).reshape(n * T, d)                                # (n*T, d)
    rows = allowed_table.float()                                                               # (A, d)
    half_norm = 0.5 * rows.pow(2).sum(1)                                                       # (A,)
    nearest = torch.cat([(chunk @ rows.T - half_norm).argmax(1)                                # (c*T,)
                         for chunk in points.split(chunk_size * T)])
    return allowed_ids[nearest].reshape(n, T)                                                  # (n, T)
