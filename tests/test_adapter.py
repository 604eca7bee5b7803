"""The FUSE adapter: fitting, caching, the identity property and the batched cross-tokenizer gradient."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
import torch

from fuse_edu.adapter import FuseAdapter, FuseTranslator, fit_bucket, fit_residual, word_tensor
from fuse_edu.tensor import teye, tpinv, tprod, ttranspose
from fuse_edu.text import align_words


@pytest.fixture(scope="module")
def words(english_words):
    return english_words[:30_000]


def batch(tokenizer, texts):
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(map(len, rows))
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for b, row in enumerate(rows):
        ids[b, : len(row)] = torch.tensor(row)
        mask[b, : len(row)] = 1
    return ids, mask


# ----------------------------------------------------------------------------------------- fit_bucket

@pytest.mark.parametrize("K", [1, 2, 3, 4, 5])
def test_fit_bucket_equals_the_pseudo_inverse_solution(K):
    g = torch.Generator().manual_seed(K)
    X_A = torch.randn(200, 12, K, generator=g, dtype=torch.float64)
    X_B = torch.randn(200, 7, K, generator=g, dtype=torch.float64)
    T = fit_bucket(X_A, X_B, ridge=0.0)
    assert T.shape == (12, 7, K)
    torch.testing.assert_close(T, tprod(tpinv(X_A), X_B), rtol=1e-9, atol=1e-9)


def test_fit_bucket_recovers_a_planted_adapter_and_ridge_shrinks():
    g = torch.Generator().manual_seed(0)
    X_A = torch.randn(500, 10, 3, generator=g, dtype=torch.float64)
    T_true = torch.randn(10, 6, 3, generator=g, dtype=torch.float64)
    X_B = tprod(X_A, T_true)
    torch.testing.assert_close(fit_bucket(X_A, X_B, ridge=0.0), T_true)
    assert fit_residual(X_A, X_B, fit_bucket(X_A, X_B, ridge=0.0)) < 1e-10
    assert fit_bucket(X_A, X_B, ridge=10.0).norm() < T_true.norm()


def test_fit_bucket_float32_default_ridge_is_close_to_exact():
    g = torch.Generator().manual_seed(1)
    X_A, X_B = torch.randn(800, 64, 4, generator=g), torch.randn(800, 32, 4, generator=g)
    exact = fit_residual(X_A.double(), X_B.double(), fit_bucket(X_A.double(), X_B.double(), ridge=0.0))
    assert abs(fit_residual(X_A, X_B, fit_bucket(X_A, X_B)) / exact - 1) < 1e-3


def test_fit_bucket_errors_name_shapes_and_advise_ridge():
    with pytest.raises(ValueError, match=r"\(5, 3, 2\).*\(4, 3, 2\)"):
        fit_bucket(torch.randn(5, 3, 2), torch.randn(4, 3, 2))
    with pytest.raises(ValueError, match="ridge > 0"):
        fit_bucket(torch.randn(3, 8, 2, dtype=torch.float64), torch.randn(3, 2, 2, dtype=torch.float64), ridge=0.0)
    with pytest.raises(ValueError, match="ridge must be"):
        fit_bucket(torch.randn(3, 8, 2), torch.randn(3, 2, 2), ridge=-1)


# ----------------------------------------------------------------------------------------- FuseAdapter

def test_identity_adapter_and_exact_gradient(gpt2, words):
    """A = B: every T_K is the t-identity and the FUSE gradient equals the true gradient (1e-5)."""
    table = torch.randn(len(gpt2), 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    adapter = FuseAdapter.fit((gpt2, table), (gpt2, table), words=words, ridge=0.0, cache=False)
    for K, T in adapter.T.items():
        torch.testing.assert_close(T, teye(16, K, dtype=torch.float64), atol=1e-5, rtol=0)

    texts = ["a turquoise hexagon", "the magenta crescent looks lovely", "an extraordinarily idiosyncratic word"]
    ids, mask = batch(gpt2, texts)
    src = table[ids].clone().requires_grad_(True)                            # (B, T, d)
    out, dst_ids, dst_mask = FuseTranslator(gpt2, gpt2, table, adapter)(ids, src, mask)
    assert torch.equal(dst_ids * dst_mask, ids * mask)
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (out * weights).sum().backward()
    torch.testing.assert_close(src.grad, weights * mask.unsqueeze(-1), atol=1e-5, rtol=0)


def naive_fuse_gradient(texts, src_tok, dst_tok, adapter, grad_dst):
    """The FUSE gradient one word at a time, straight from DESIGN.md §1 (reference for the batched one)."""
    rows = []
    for b, text in enumerate(texts):
        src_words, dst_words = align_words(text, src_tok), align_words(text, dst_tok)
        row, start_src, start_dst = [], 0, 0
        for (_, src_ids), (_, dst_ids) in zip(src_words, dst_words):
            k_a, k_b = len(src_ids), len(dst_ids)
            K = max(k_a, k_b)
            G_B = grad_dst[b, start_dst:start_dst + k_b]                          # (k_B, d_B)
            if K <= adapter.max_subtokens:
                padded = torch.zeros(K, G_B.shape[1], dtype=G_B.dtype)
                padded[:k_b] = G_B
                G_A = tprod(padded.T.unsqueeze(0), ttranspose(adapter.T[K]))[0].T[:k_a]  # (k_A, d_A)
            else:
                G_A = (G_B.sum(0) @ adapter.T[1][:, :, 0].T / k_a).expand(k_a, -1)
            row.append(G_A)
            start_src, start_dst = start_src + k_a, start_dst + k_b
        rows.append(torch.cat(row))
    return rows


def test_batched_gradient_equals_word_by_word_reference(gpt2, clip, words):
    g = torch.Generator().manual_seed(2)
    src_table = torch.randn(len(gpt2), 12, generator=g, dtype=torch.float64)
    dst_table = torch.randn(len(clip), 8, generator=g, dtype=torch.float64)
    adapter = FuseAdapter.fit((gpt2, src_table), (clip, dst_table), words=words, max_subtokens=3, cache=False)
    texts = ["A turquoise hexagon, isn't it?", "the magenta crescent looks lovely", "pneumonoultramicroscopic dust",
             "tabs\tand  spaces"]
    ids, mask = batch(gpt2, texts)
    src = src_table[ids].clone().requires_grad_(True)
    out, dst_ids, dst_mask = FuseTranslator(gpt2, clip, dst_table, adapter)(ids, src, mask)
    torch.testing.assert_close(out, dst_table[dst_ids] * dst_mask.unsqueeze(-1))  # forward is exact
    for b, text in enumerate(texts):
        assert dst_ids[b, : int(dst_mask[b].sum())].tolist() == clip(text, add_special_tokens=False)["input_ids"]
    grad_dst = torch.randn(out.shape, generator=g, dtype=torch.float64) * dst_mask.unsqueeze(-1)
    out.backward(grad_dst)
    expected = naive_fuse_gradient(texts, gpt2, clip, adapter, grad_dst)
    for b in range(len(texts)):
        n = int(mask[b].sum())
        torch.testing.assert_close(src.grad[b, :n], expected[b], atol=1e-10, rtol=1e-10)
        assert torch.all(src.grad[b, n:] == 0)


def test_cache_round_trip_and_refit_on_corruption_or_other_version(tmp_path, gpt2, clip, words, caplog, monkeypatch):
    g = torch.Generator().manual_seed(3)
    src = (gpt2, torch.randn(len(gpt2), 8, generator=g))
    dst = (clip, torch.randn(len(clip), 6, generator=g))
    first = FuseAdapter.fit(src, dst, words=words[:3000], cache=tmp_path)
    (path,) = tmp_path.glob("adapter-*.safetensors")
    with caplog.at_level(logging.INFO):
        again = FuseAdapter.fit(src, dst, words=words[:3000], cache=tmp_path)
    assert "loaded from cache" in caplog.text
    assert all(torch.equal(first.T[K], again.T[K]) for K in first.T)

    path.write_bytes(b"\x00" * 20)
    caplog.clear()
    FuseAdapter.fit(src, dst, words=words[:3000], cache=tmp_path)
    assert "corrupt" in caplog.text

    import fuse_edu
    monkeypatch.setattr(fuse_edu, "__version__", "9.9.9")
    caplog.clear()
    FuseAdapter.fit(src, dst, words=words[:3000], cache=tmp_path)
    assert "written by fuse_edu 0.1.0" in caplog.text and "refitting" in caplog.text


def _rewrite_adapter_file(path, change):
    """The cached adapter file with ``change(tensors)`` applied and its checksum recomputed: only the content
    checks can catch it."""
    import json

    from safetensors.torch import load_file, save_file

    from fuse_edu.adapter.fuse_adapter import _safetensors_metadata, tensors_sha256

    metadata = _safetensors_metadata(path.read_bytes())
    tensors = load_file(str(path))
    change(tensors)
    metadata["tensors_sha256"] = tensors_sha256(tensors)
    save_file(tensors, str(path), metadata={k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()})


def _flip_a_bit(path):
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x10  # inside the last tensor's bytes; the header still parses
    path.write_bytes(bytes(data))


def _wrong_shape(path):
    _rewrite_adapter_file(path, lambda t: t.update(T_1=torch.zeros(5, 6, 1)))


def _nan(path):
    _rewrite_adapter_file(path, lambda t: t["T_2"].view(-1).__setitem__(0, float("nan")))


def _integer_dtype(path):
    _rewrite_adapter_file(path, lambda t: t.update(T_1=t["T_1"].to(torch.int32)))


@pytest.mark.parametrize("tamper, reason", [(_flip_a_bit, r"tensors hash to sha256"),
                                            (_wrong_shape, r"T_1 has shape \(5, 6, 1\), expected \(8, 6, 1\)"),
                                            (_nan, r"T_2 holds NaN or inf"),
                                            (_integer_dtype, r"T_1 has dtype torch.int32")],
                         ids=["bit-flip", "wrong-shape", "nan", "int-dtype"])
def test_a_tampered_cache_file_is_refitted_with_one_line_naming_it(tmp_path, gpt2, clip, words, caplog, tamper,
                                                                   reason):
    g = torch.Generator().manual_seed(3)
    src = (gpt2, torch.randn(len(gpt2), 8, generator=g))
    dst = (clip, torch.randn(len(clip), 6, generator=g))
    first = FuseAdapter.fit(src, dst, words=words[:3000], cache=tmp_path)
    (path,) = tmp_path.glob("adapter-*.safetensors")
    tamper(path)
    with caplog.at_level(logging.WARNING):
        again = FuseAdapter.fit(src, dst, words=words[:3000], cache=tmp_path)
    (notice,) = [r.getMessage() for r in caplog.records if "adapter cache" in r.getMessage()]
    assert str(path) in notice and "refitting" in notice and "\n" not in notice and re.search(reason, notice), notice
    assert all(torch.equal(first.T[K], again.T[K]) for K in first.T)
    assert FuseAdapter.load(path).info["checksummed"]  # the refitted file replaced the bad one


def test_different_tables_use_different_cache_entries(tmp_path, gpt2, clip, words):
    tables = [torch.randn(len(gpt2), 4, generator=torch.Generator().manual_seed(s)) for s in (0, 1)]
    dst = (clip, torch.randn(len(clip), 4, generator=torch.Generator().manual_seed(9)))
    for table in tables:
        FuseAdapter.fit((gpt2, table), dst, words=words[:2000], cache=tmp_path)
    assert len(list(tmp_path.glob("adapter-*.safetensors"))) == 2


def test_bad_inputs_fail_clearly_or_fall_back_with_a_log(gpt2, clip, caplog):
    table = torch.randn(len(gpt2), 4)
    bad = table.clone()
    bad[5, 1] = float("nan")
    with pytest.raises(ValueError, match="src embedding table.*NaN"):
        FuseAdapter.fit((gpt2, bad), (clip, torch.randn(len(clip), 4)), cache=False)
    with pytest.raises(TypeError, match="model wrapper"):
        FuseAdapter.fit(object(), (clip, torch.randn(len(clip), 4)), cache=False)
    # only one-token words: buckets 2..4 are empty and fall back to position-wise T_1, logged
    with caplog.at_level(logging.WARNING):
        adapter = FuseAdapter.fit((gpt2, table), (clip, torch.randn(len(clip), 4)),
                                  words=["red", "blue", "cat", "dog", "sun", "sea"], cache=False)
    assert "bucket K=2 has no words" in caplog.text and adapter.info["position_wise_fallback"] == [2, 3, 4]
    torch.testing.assert_close(adapter.T[3][:, :, 0], adapter.T[1][:, :, 0])
    assert torch.all(adapter.T[3][:, :, 1:] == 0)


def test_word_tensor_lays_subtokens_along_mode_three():
    table = torch.arange(20.0).reshape(10, 2)
    X = word_tensor(torch.tensor([[3, 4, -1], [7, -1, -1]]), table)
    assert X.shape == (2, 2, 3)
    assert X[0, :, 0].tolist() == [6.0, 7.0] and X[0, :, 1].tolist() == [8.0, 9.0] and X[0, :, 2].tolist() == [0, 0]
    assert np.allclose(X[1, :, 1:].numpy(), 0)


@pytest.mark.parametrize("K", [1, 2, 3, 4])
def test_fast_gradient_equals_the_t_product_definition(K):
    g = torch.Generator().manual_seed(K)
    adapter = FuseAdapter(T={k: torch.randn(6, 5, k, generator=g, dtype=torch.float64) for k in range(1, 5)},
                          max_subtokens=4)
    G_B = torch.randn(9, 5, K, generator=g, dtype=torch.float64)
    torch.testing.assert_close(adapter.gradient(G_B), tprod(G_B, ttranspose(adapter.T[K])))
