"""``FuseAdapter``: one T_K per bucket K, fitted zero-shot from two embedding tables, cached on disk.

``FuseAdapter.fit(src, dst)`` takes two model wrappers (anything with ``.tokenizer`` and
``.embedding_table``) or two ``(tokenizer, embedding_table)`` pairs. Direction: the prompt lives in
``src`` (model A, the primary); ``dst`` is a secondary model B whose loss gradient we carry back.

Fallbacks, each explicit:
- an empty word list -> the default wordfreq list, logged;
- a bucket K with no words -> ``position-wise T_1``: T_1 in the first frontal slice, zeros elsewhere,
  i.e. sub-token i of A maps to sub-token i of B through the one-token adapter; logged;
- words longer than ``max_subtokens`` are not fitted; ``translate`` gives them the long-word fallback.

The cache key covers both vocabularies, both tables' bytes, every fit parameter, the word list and the
package version. Files are written atomically with a sha256 of their tensors, and read back checked by
content: that checksum, each T_K's shape (d_A, d_B, K) against the tables in hand, a floating dtype and
finite entries. A stale, foreign, corrupt or tampered file is refitted, with one warning line naming it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from transformers import PreTrainedTokenizerBase

import fuse_edu
from fuse_edu.adapter.fit import DEFAULT_RIDGE, fit_bucket
from fuse_edu.adapter.words import bucket_words, word_tensor
from fuse_edu.cache import atomic_write_bytes, cache_root
from fuse_edu.tensor import tprod, ttranspose

log = logging.getLogger(__name__)

DEFAULT_WORDS = 100_000          # how deep into wordfreq's English list the default word list goes
DEFAULT_WORDS_PER_BUCKET = 10_000  # the paper fits ~10^4 words per bucket


def default_words(n: int = DEFAULT_WORDS) -> list[str]:
    """The ``n`` most frequent English words (wordfreq): our stand-in for the paper's wikitext-103 list."""
    from wordfreq import top_n_list

    return top_n_list("en", n)


def tokenizer_and_table(side, role: str) -> tuple[PreTrainedTokenizerBase, torch.Tensor]:
    """Accept a model wrapper or a (tokenizer, table) pair; check the table is usable."""
    if isinstance(side, tuple) and len(side) == 2:
        tokenizer, table = side
    elif hasattr(side, "tokenizer") and hasattr(side, "embedding_table"):
        tokenizer, table = side.tokenizer, side.embedding_table
    else:
        raise TypeError(f"{role} must be a model wrapper (.tokenizer, .embedding_table) or a (tokenizer, table) pair, "
                        f"got {type(side).__name__}")
    if not isinstance(table, torch.Tensor) or table.ndim != 2:
        raise TypeError(f"{role} embedding table must be a 2-D tensor (V, d), got {getattr(table, 'shape', type(table))}")
    if not torch.isfinite(table).all():
        raise ValueError(f"{role} embedding table ({tuple(table.shape)}) contains NaN or inf; fix the model's weights")
    return tokenizer, table.detach()


def _hash_tokenizer(tokenizer: PreTrainedTokenizerBase) -> str:
    vocab = json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=False).encode()
    return hashlib.sha256(vocab).hexdigest()


def _hash_table(table: torch.Tensor) -> str:
    return hashlib.sha256(table.detach().cpu().contiguous().float().numpy().tobytes()).hexdigest()


@dataclass
class FuseAdapter:
    """Adapters T_K (d_A, d_B, K) for K = 1..max_subtokens, and how they were made."""

    T: dict[int, torch.Tensor]
    max_subtokens: int
    info: dict = field(default_factory=dict)  # fit parameters, words per bucket, timings, cache key
    _spectra: dict = field(default_factory=dict, repr=False, compare=False)  # K -> Fourier slices of T_K^T

    # ------------------------------------------------------------------ fitting

    @classmethod
    def fit(cls, src, dst, words: list[str] | None = None, max_subtokens: int = 4,
            words_per_bucket: int = DEFAULT_WORDS_PER_BUCKET, ridge: float = DEFAULT_RIDGE,
            cache: bool | str | Path = True, device: str | torch.device | None = None) -> "FuseAdapter":
        """Fit T_K = argmin ||X_A * T - X_B|| for every bucket K (see ``fuse_edu.adapter.fit``).

        ``cache``: True uses ``cache_root()/adapters``; a path uses that folder; False never touches disk.
        ``device``: where to fit (default: the source table's device).
        """
        src_tok, src_table = tokenizer_and_table(src, "src")
        dst_tok, dst_table = tokenizer_and_table(dst, "dst")
        if not isinstance(max_subtokens, int) or max_subtokens < 1:
            raise ValueError(f"max_subtokens must be an int >= 1, got {max_subtokens!r}")
        if not isinstance(words_per_bucket, int) or words_per_bucket < 1:
            raise ValueError(f"words_per_bucket must be an int >= 1, got {words_per_bucket!r}")
        if words is None or len(words) == 0:
            if words is not None:
                log.warning("FuseAdapter.fit: empty word list; falling back to the default wordfreq list")
            words = default_words()
        words = list(words)
        params = {"max_subtokens": max_subtokens, "words_per_bucket": words_per_bucket, "ridge": ridge,
                  "words_sha256": hashlib.sha256("\n".join(words).encode()).hexdigest()}
        key = cls.cache_key(src_tok, src_table, dst_tok, dst_table, params)
        path = None
        if cache:
            # the file name leaves the package version out, so a file from another version is found,
            # reported and replaced rather than silently left beside a new one
            folder = cache_root() / "adapters" if cache is True else Path(cache)
            path = folder / f"adapter-{key[:24]}.safetensors"
            cached = cls._load_if_valid(path, key, dims=(int(src_table.shape[1]), int(dst_table.shape[1])))
            if cached is not None:
                return cached
        device = torch.device(device) if device is not None else src_table.device
        adapter = cls._fit(words, src_tok, src_table.to(device), dst_tok, dst_table.to(device), params)
        adapter.info["cache_key"] = key
        if path is not None:
            adapter.save(path)
        return adapter

    @classmethod
    def _fit(cls, words, src_tok, src_table, dst_tok, dst_table, params) -> "FuseAdapter":
        start = time.perf_counter()
        buckets = bucket_words(words, src_tok, dst_tok, params["max_subtokens"], params["words_per_bucket"])
        timings = {"bucket_words_s": time.perf_counter() - start}
        T, fallbacks = {}, []
        for K, bucket in buckets.items():
            if len(bucket) == 0:
                continue
            tick = time.perf_counter()
            X_A = word_tensor(bucket.src_ids, src_table)                 # (n, d_A, K)
            X_B = word_tensor(bucket.dst_ids, dst_table)                 # (n, d_B, K)
            timings[f"word_tensors_{K}_s"] = time.perf_counter() - tick
            tick = time.perf_counter()
            T[K] = fit_bucket(X_A, X_B, ridge=params["ridge"])          # (d_A, d_B, K)
            timings[f"fit_{K}_s"] = time.perf_counter() - tick
        if not T:
            raise ValueError("FuseAdapter.fit: no word has sub-tokens in both tokenizers; cannot fit any bucket")
        for K in range(1, params["max_subtokens"] + 1):
            if K not in T:
                T[K] = position_wise(T[min(T)], K)
                fallbacks.append(K)
                log.warning("FuseAdapter.fit: bucket K=%d has no words; using position-wise T_%d", K, min(T))
        info = {**params, "words_per_bucket_fitted": {K: len(b) for K, b in buckets.items()},
                "position_wise_fallback": fallbacks, "timings": timings,
                "d_src": int(src_table.shape[1]), "d_dst": int(dst_table.shape[1]), "version": fuse_edu.__version__}
        return cls(T=T, max_subtokens=params["max_subtokens"], info=info)

    # ------------------------------------------------------------------ using it

    @property
    def device(self) -> torch.device:
        return self.T[1].device

    def to(self, device: str | torch.device) -> "FuseAdapter":
        self.T = {K: T.to(device) for K, T in self.T.items()}
        self._spectra.clear()
        return self

    def gradient(self, G_B: torch.Tensor) -> torch.Tensor:
        """The FUSE gradient G_B * T_K^T for a batch of word gradients G_B (m, d_B, K); returns (m, d_A, K).

        K is read from G_B; callers truncate the result to each word's first k_A rows. This equals
        ``tprod(G_B, ttranspose(T_K))`` (a test checks it) but runs in the backward pass of every
        optimiser step, so T_K^T's Fourier slices are computed once, and the real slices (DC, and
        Nyquist for even K: every slice when K <= 2) are multiplied in real arithmetic, 4x cheaper.
        """
        K = G_B.shape[2]
        if K == 1:  # no mixing of positions: a plain matrix product
            return (G_B[:, :, 0].to(self.T[1].dtype) @ self.T[1][:, :, 0].T).unsqueeze(2)  # (m, d_A, 1)
        if K not in self._spectra:
            T_hat = torch.fft.rfft(ttranspose(self.T[K]), dim=2)             # (d_B, d_A, F)
            self._spectra[K] = [T_hat[:, :, f].real.contiguous() if _real_slice(f, K) else T_hat[:, :, f].contiguous()
                                for f in range(T_hat.shape[2])]
        G_hat = torch.fft.rfft(G_B.to(self.T[K].dtype), dim=2)              # (m, d_B, F)
        slices = [(G_hat[:, :, f].real @ T_f).to(G_hat.dtype) if _real_slice(f, K) else G_hat[:, :, f] @ T_f
                  for f, T_f in enumerate(self._spectra[K])]                # F x (m, d_A)
        return torch.fft.irfft(torch.stack(slices, dim=2), n=K, dim=2)      # (m, d_A, K)

    def randomised(self, seed: int = 0) -> "FuseAdapter":
        """An adapter of the same shapes whose T_K hold Gaussian entries scaled to each fitted T_K's Frobenius
        norm: the control that keeps the adapter's size and drops what the fit learned."""
        generator = torch.Generator().manual_seed(seed)
        T = {}
        for K, fitted in self.T.items():
            noise = torch.randn(fitted.shape, generator=generator, dtype=torch.float64)   # (d_A, d_B, K)
            T[K] = (noise * (fitted.double().norm() / noise.norm())).to(fitted)
        return FuseAdapter(T=T, max_subtokens=self.max_subtokens, info={**self.info, "randomised_seed": seed})

    def map_words(self, X_A: torch.Tensor) -> torch.Tensor:
        """X_A * T_K: words (m, d_A, K) carried into B's embedding space, (m, d_B, K)."""
        return tprod(X_A, self.T[X_A.shape[2]])                           # (m, d_B, K)

    # ------------------------------------------------------------------ persistence

    @staticmethod
    def cache_key(src_tok, src_table, dst_tok, dst_table, params: dict) -> str:
        """sha256 over both vocabularies, both tables' bytes and the fit parameters (word list included).

        The package version is checked separately, from the file's metadata (see ``_load_if_valid``).
        """
        parts = [_hash_tokenizer(src_tok), _hash_table(src_table), _hash_tokenizer(dst_tok), _hash_table(dst_table),
                 json.dumps(params, sort_keys=True)]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def save(self, path: str | Path) -> Path:
        tensors = {f"T_{K}": T.detach().cpu().contiguous() for K, T in self.T.items()}
        metadata = {"info": json.dumps(self.info, default=str), "max_subtokens": str(self.max_subtokens),
                    "cache_key": str(self.info.get("cache_key", "")), "version": fuse_edu.__version__,
                    "tensors_sha256": tensors_sha256(tensors)}
        atomic_write_bytes(path, save_safetensors(tensors, metadata=metadata))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "FuseAdapter":
        """Load a saved adapter; raises ValueError when the file is not a readable FuseAdapter."""
        path = Path(path)
        try:
            data = path.read_bytes()
            tensors = load_safetensors(data)
            metadata = _safetensors_metadata(data)
            max_subtokens = int(metadata["max_subtokens"])
            T = {K: tensors[f"T_{K}"] for K in range(1, max_subtokens + 1)}
            info = json.loads(metadata["info"])
        except (OSError, SafetensorError, KeyError, ValueError, json.JSONDecodeError) as error:
            raise ValueError(f"{path} is not a readable FuseAdapter file ({type(error).__name__}: {error})") from error
        info["version_in_file"] = metadata.get("version")
        info["checksummed"] = "tensors_sha256" in metadata
        adapter = cls(T=T, max_subtokens=max_subtokens, info=info)
        adapter.check_content(path, expected_sha256=metadata.get("tensors_sha256"))
        return adapter

    def check_content(self, path: str | Path, expected_sha256: str | None = None,
                      dims: tuple[int, int] | None = None) -> None:
        """ValueError naming ``path`` unless every T_K is a finite floating tensor of shape (d_A, d_B, K) and,
        given ``expected_sha256``, their bytes hash to it. ``dims``: (d_A, d_B), default the file's own."""
        d_A, d_B = dims or (self.info.get("d_src"), self.info.get("d_dst"))
        for K, T in self.T.items():
            if not T.is_floating_point():
                raise ValueError(f"{path}: T_{K} has dtype {T.dtype}, not a floating type")
            expected = (T.shape[0] if d_A is None else d_A, T.shape[1] if d_B is None else d_B, K)
            if tuple(T.shape) != expected:
                raise ValueError(f"{path}: T_{K} has shape {tuple(T.shape)}, expected {expected}")
            if not bool(torch.isfinite(T).all()):
                raise ValueError(f"{path}: T_{K} holds NaN or inf")
        if expected_sha256 is not None:
            actual = tensors_sha256({f"T_{K}": T for K, T in self.T.items()})
            if actual != expected_sha256:
                raise ValueError(f"{path}: tensors hash to sha256 {actual[:16]}..., the file says "
                                 f"{expected_sha256[:16]}...")

    @classmethod
    def _load_if_valid(cls, path: Path, key: str, dims: tuple[int, int]) -> "FuseAdapter | None":
        if not path.exists():
            return None
        try:
            adapter = cls.load(path)
            if not adapter.info.get("checksummed"):
                raise ValueError(f"{path} carries no checksum of its tensors")
            adapter.check_content(path, dims=dims)  # against the tables in hand, not only the file's word
        except ValueError as error:
            reason = str(error).replace(f"{path}: ", "").replace(f"{path} ", "")
            fault = "cannot be trusted" if "no checksum" in reason else "is corrupt"  # no checksum: an older cache
            log.warning("adapter cache %s %s (%s); refitting", path, fault, reason)
            return None
        if adapter.info.get("version_in_file") != fuse_edu.__version__:
            log.warning("adapter cache %s was written by fuse_edu %s, this is %s; refitting",
                        path, adapter.info.get("version_in_file"), fuse_edu.__version__)
            return None
        if adapter.info.get("cache_key") != key:
            log.warning("adapter cache %s does not match these tables and parameters; refitting", path)
            return None
        log.info("adapter loaded from cache %s", path)
        return adapter


def _real_slice(f: int, K: int) -> bool:
    """Fourier slice f of a real length-K signal is real: the DC slice, and the Nyquist slice for even K."""
    return f == 0 or 2 * f == K


def position_wise(T_1: torch.Tensor, K: int) -> torch.Tensor:
    """(d_A, d_B, K) with T_1 (d_A, d_B, 1) as first frontal slice: sub-token i maps to sub-token i."""
    T = torch.zeros(*T_1.shape[:2], K, dtype=T_1.dtype, device=T_1.device)  # (d_A, d_B, K)
    T[:, :, 0] = T_1[:, :, 0]
    return T


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over the tensors' names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def _safetensors_metadata(data: bytes) -> dict:
    header_len = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + header_len]).get("__metadata__", {})
