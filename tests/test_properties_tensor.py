"""Property tests (hypothesis) for the t-product identities of DESIGN.md section 1 on random shapes: the FFT
path equals the block-circulant definition, the identity, associativity, (A * B)^T = B^T * A^T, and the four
Moore-Penrose conditions of ``tpinv``. Shapes run over 1..5 (tall, wide, square) and n3 over 1..8."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fuse_edu.tensor import teye, tpinv, tprod, tprod_bcirc, ttranspose

PROPERTY = settings(max_examples=40, deadline=None)
SIDE, N3 = st.integers(1, 5), st.integers(1, 8)
SEED = st.integers(0, 2**31 - 1)
TOL = dict(rtol=1e-9, atol=1e-9)


def rand(seed: int, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@PROPERTY
@given(n1=SIDE, n2=SIDE, n4=SIDE, n3=N3, seed=SEED)
def test_the_fft_path_is_the_definition_and_the_identity_is_neutral(n1, n2, n4, n3, seed):
    A, B = rand(seed, n1, n2, n3), rand(seed + 1, n2, n4, n3)
    torch.testing.assert_close(tprod(A, B), tprod_bcirc(A, B), **TOL)
    torch.testing.assert_close(tprod(teye(n1, n3, torch.float64), A), A, **TOL)
    torch.testing.assert_close(tprod(A, teye(n2, n3, torch.float64)), A, **TOL)


@PROPERTY
@given(n1=SIDE, n2=SIDE, n4=SIDE, n5=SIDE, n3=N3, seed=SEED)
def test_associativity_and_the_transpose_of_a_product(n1, n2, n4, n5, n3, seed):
    A, B, C = rand(seed, n1, n2, n3), rand(seed + 1, n2, n4, n3), rand(seed + 2, n4, n5, n3)
    torch.testing.assert_close(tprod(tprod(A, B), C), tprod(A, tprod(B, C)), **TOL)
    torch.testing.assert_close(ttranspose(tprod(A, B)), tprod(ttranspose(B), ttranspose(A)), **TOL)
    torch.testing.assert_close(ttranspose(ttranspose(A)), A, rtol=0, atol=0)


@PROPERTY
@given(n1=SIDE, n2=SIDE, n3=N3, rank=st.integers(1, 5), seed=SEED)
def test_tpinv_meets_the_four_moore_penrose_conditions(n1, n2, n3, rank, seed):
    """On full-rank and on rank-deficient tensors (a product through a narrow middle dimension)."""
    A = tprod(rand(seed, n1, rank, n3), rand(seed + 1, rank, n2, n3))    # (n1, n2, n3), rank <= min(rank, n1, n2)
    X = tpinv(A)                                                          # (n2, n1, n3)
    AX, XA = tprod(A, X), tprod(X, A)
    tol = dict(rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(tprod(AX, A), A, **tol)
    torch.testing.assert_close(tprod(XA, X), X, **tol)
    torch.testing.assert_close(ttranspose(AX), AX, **tol)
    torch.testing.assert_close(ttranspose(XA), XA, **tol)
