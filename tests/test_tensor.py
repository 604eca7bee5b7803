"""Property tests for fuse_edu.tensor: the t-product laws of DESIGN.md section 1 on seeded random shapes.

Every law is checked for n3 = 1 (plain matrices), odd and even n3: the half-spectrum FFT path
treats the Nyquist slice of an even n3 specially, and n3 = 1 has no slices beyond the first.
"""

from __future__ import annotations

import pytest
import torch

from fuse_edu.tensor import bcirc, fold, teye, tpinv, tprod, tprod_bcirc, ttranspose, unfold

N3S = [1, 2, 3, 4, 7, 8]
SEEDS = [0, 1, 2]
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=1e-4, atol=1e-4)}


def rand(gen: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=dtype)


def dims(seed: int, count: int) -> tuple[torch.Generator, list[int]]:
    """A seeded generator and `count` matrix dimensions in 1..5 (so tall, wide and square all occur)."""
    gen = torch.Generator().manual_seed(seed)
    return gen, torch.randint(1, 6, (count,), generator=gen).tolist()


def close(X: torch.Tensor, Y: torch.Tensor) -> bool:
    return X.shape == Y.shape and torch.allclose(X, Y, **TOL[X.dtype])


cases = pytest.mark.parametrize("n3", N3S)
seeds = pytest.mark.parametrize("seed", SEEDS)


# --------------------------------------------------------------------------- fast path == definition


@cases
@seeds
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_tprod_matches_bcirc_definition(n3, seed, dtype):
    gen, (n1, n2, n4) = dims(seed, 3)
    A, B = rand(gen, n1, n2, n3, dtype=dtype), rand(gen, n2, n4, n3, dtype=dtype)
    C = tprod(A, B)
    assert C.shape == (n1, n4, n3) and C.dtype == dtype and C.device == A.device
    assert close(C, tprod_bcirc(A, B))


def test_non_contiguous_views_are_fine():
    # adapters are often built from transposed or permuted views; strides must not matter
    gen = torch.Generator().manual_seed(3)
    A = rand(gen, 5, 3, 4).transpose(0, 1)  # (3, 5, 4), non-contiguous
    B = rand(gen, 6, 4, 5).permute(2, 0, 1)  # (5, 6, 4), non-contiguous
    assert close(tprod(A, B), tprod_bcirc(A, B))
    assert close(bcirc(tpinv(A)), torch.linalg.pinv(bcirc(A)))
    assert torch.equal(fold(unfold(B), 4), B)


@seeds
def test_n3_one_is_the_matrix_product(seed):
    gen, (n1, n2, n4) = dims(seed, 3)
    A, B = rand(gen, n1, n2, 1), rand(gen, n2, n4, 1)
    assert close(tprod(A, B)[:, :, 0], A[:, :, 0] @ B[:, :, 0])
    assert close(tpinv(A)[:, :, 0], torch.linalg.pinv(A[:, :, 0]))


@cases
def test_tprod_is_circular_convolution_of_tubes(n3):
    # 1 x 1 x n3 tensors are scalars-with-tubes: their t-product is circular convolution
    gen = torch.Generator().manual_seed(n3)
    a, b = rand(gen, n3), rand(gen, n3)
    conv = torch.stack([sum(a[j] * b[(k - j) % n3] for j in range(n3)) for k in range(n3)])
    assert close(tprod(a.view(1, 1, n3), b.view(1, 1, n3)).flatten(), conv)


# --------------------------------------------------------------------------- algebraic laws


@cases
@seeds
def test_associativity(n3, seed):
    gen, (n1, n2, n4, n5) = dims(seed, 4)
    A, B, C = rand(gen, n1, n2, n3), rand(gen, n2, n4, n3), rand(gen, n4, n5, n3)
    assert close(tprod(tprod(A, B), C), tprod(A, tprod(B, C)))


@cases
@seeds
def test_distributivity_both_sides(n3, seed):
    gen, (n1, n2, n4) = dims(seed, 3)
    A, A2 = rand(gen, n1, n2, n3), rand(gen, n1, n2, n3)
    B, B2 = rand(gen, n2, n4, n3), rand(gen, n2, n4, n3)
    assert close(tprod(A, B + B2), tprod(A, B) + tprod(A, B2))
    assert close(tprod(A + A2, B), tprod(A, B) + tprod(A2, B))


@cases
@seeds
def test_identity_left_and_right(n3, seed):
    gen, (n1, n2) = dims(seed, 2)
    A = rand(gen, n1, n2, n3)
    I1, I2 = teye(n1, n3, dtype=A.dtype), teye(n2, n3, dtype=A.dtype)
    assert close(tprod(I1, A), A)
    assert close(tprod(A, I2), A)


def test_teye_layout():
    I = teye(3, 4, dtype=torch.float64)
    assert I.shape == (3, 3, 4) and I.dtype == torch.float64
    assert torch.equal(I[:, :, 0], torch.eye(3, dtype=torch.float64))
    assert torch.count_nonzero(I[:, :, 1:]) == 0
    assert teye(2, 1).dtype == torch.float32


@cases
@seeds
def test_transpose_rule(n3, seed):
    gen, (n1, n2, n4) = dims(seed, 3)
    A, B = rand(gen, n1, n2, n3), rand(gen, n2, n4, n3)
    assert close(ttranspose(tprod(A, B)), tprod(ttranspose(B), ttranspose(A)))


@cases
@seeds
def test_transpose_twice_is_identity_and_matches_bcirc(n3, seed):
    gen, (n1, n2) = dims(seed, 2)
    A = rand(gen, n1, n2, n3)
    At = ttranspose(A)
    assert At.shape == (n2, n1, n3)
    assert torch.equal(ttranspose(At), A)
    # the t-transpose is the tensor whose bcirc is the matrix transpose of bcirc(A)
    assert torch.equal(bcirc(At), bcirc(A).T)


def test_transpose_reverses_later_slices():
    A = torch.arange(2 * 3 * 4, dtype=torch.float64).reshape(2, 3, 4)
    At = ttranspose(A)
    for k, src in enumerate([0, 3, 2, 1]):
        assert torch.equal(At[:, :, k], A[:, :, src].T)


# --------------------------------------------------------------------------- pseudo-inverse


@cases
@seeds
def test_four_moore_penrose_conditions(n3, seed):
    gen, (n1, n2) = dims(seed, 2)
    A = rand(gen, n1, n2, n3)
    X = tpinv(A)
    assert X.shape == (n2, n1, n3)
    AX, XA = tprod(A, X), tprod(X, A)
    assert close(tprod(AX, A), A)  # A X A = A
    assert close(tprod(XA, X), X)  # X A X = X
    assert close(ttranspose(AX), AX)  # (A X)^T = A X
    assert close(ttranspose(XA), XA)  # (X A)^T = X A


@cases
@seeds
def test_tpinv_matches_matrix_pinv_of_bcirc(n3, seed):
    gen, (n1, n2) = dims(seed, 2)
    A = rand(gen, n1, n2, n3)
    assert close(bcirc(tpinv(A)), torch.linalg.pinv(bcirc(A)))


@cases
@seeds
def test_tpinv_twice_is_identity_for_full_rank(n3, seed):
    gen, (n1, n2) = dims(seed, 2)
    A = rand(gen, n1, n2, n3)  # Gaussian: full rank in every Fourier slice with probability 1
    assert close(tpinv(tpinv(A)), A)


@cases
def test_tpinv_of_square_full_rank_is_the_inverse(n3):
    gen = torch.Generator().manual_seed(100 + n3)
    A = rand(gen, 4, 4, n3)
    assert close(tprod(A, tpinv(A)), teye(4, n3, dtype=A.dtype))


def test_tpinv_of_rank_deficient_tensor():
    # a rank-1 matrix in every Fourier slice: pinv must not blow up the zero singular values
    gen = torch.Generator().manual_seed(7)
    A = tprod(rand(gen, 4, 1, 5), rand(gen, 1, 3, 5))  # (4, 3, 5)
    X = tpinv(A)
    assert close(tprod(tprod(A, X), A), A)
    assert close(tprod(tprod(X, A), X), X)


# --------------------------------------------------------------------------- reference pieces


@cases
@seeds
def test_fold_unfold_round_trip(n3, seed):
    gen, (n2, n4) = dims(seed, 2)
    B = rand(gen, n2, n4, n3)
    M = unfold(B)
    assert M.shape == (n2 * n3, n4)
    assert torch.equal(M[:n2], B[:, :, 0])  # first block of rows is the first frontal slice
    assert torch.equal(fold(M, n3), B)
    assert torch.equal(unfold(fold(M, n3)), M)


@cases
def test_bcirc_structure(n3):
    gen = torch.Generator().manual_seed(n3)
    n1, n2 = 2, 3
    A = rand(gen, n1, n2, n3)
    M = bcirc(A)
    assert M.shape == (n1 * n3, n2 * n3)
    for i in range(n3):
        for j in range(n3):
            block = M[i * n1 : (i + 1) * n1, j * n2 : (j + 1) * n2]
            assert torch.equal(block, A[:, :, (i - j) % n3]), (i, j)
    assert torch.equal(M[:, :n2], unfold(A))  # first block column = the frontal slices in order


@cases
def test_bcirc_is_multiplicative(n3):
    gen = torch.Generator().manual_seed(n3)
    A, B = rand(gen, 2, 3, n3), rand(gen, 3, 4, n3)
    assert close(bcirc(tprod(A, B)), bcirc(A) @ bcirc(B))


# --------------------------------------------------------------------------- errors


def test_shape_mismatch_names_both_shapes():
    A, B = torch.zeros(3, 4, 5), torch.zeros(6, 2, 5)
    expected = (
        "tprod: A has shape (3, 4, 5) and B has shape (6, 2, 5); need A.shape[1] == B.shape[0] and equal n3"
    )
    with pytest.raises(ValueError) as info:
        tprod(A, B)
    assert str(info.value) == expected
    with pytest.raises(ValueError, match=r"\(3, 4, 5\).*\(4, 2, 6\)"):
        tprod(A, torch.zeros(4, 2, 6))  # n3 differs
    with pytest.raises(ValueError, match=r"tprod_bcirc: A has shape \(3, 4, 5\) and B has shape \(6, 2, 5\)"):
        tprod_bcirc(A, B)


@pytest.mark.parametrize("fn", [ttranspose, tpinv, bcirc, unfold])
def test_non_3d_input_is_rejected(fn):
    with pytest.raises(ValueError, match=r"third-order tensor \(n1, n2, n3\), got shape \(3, 4\)"):
        fn(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="third-order"):
        tprod(torch.zeros(3, 4), torch.zeros(4, 2, 1))


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.complex64, torch.float16])
def test_unsupported_dtypes_are_rejected(dtype):
    with pytest.raises(TypeError, match="accepted dtypes are torch.float32 and torch.float64"):
        tprod(torch.zeros(2, 2, 2, dtype=dtype), torch.zeros(2, 2, 2, dtype=dtype))
    with pytest.raises(TypeError, match="accepted dtypes"):
        tpinv(torch.zeros(2, 2, 2, dtype=dtype))


def test_mixed_dtypes_and_non_tensors_are_rejected():
    with pytest.raises(TypeError, match="float32.*float64"):
        tprod(torch.zeros(2, 2, 2), torch.zeros(2, 2, 2, dtype=torch.float64))
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        tprod([[[1.0]]], torch.zeros(1, 1, 1))


def test_different_devices_are_rejected():
    # the meta device stands in for a GPU: the check must fire before any computation
    with pytest.raises(ValueError, match="move both to one device"):
        tprod(torch.zeros(2, 3, 4), torch.zeros(3, 2, 4, device="meta"))


def test_fold_and_teye_argument_errors():
    with pytest.raises(ValueError, match="dividing"):
        fold(torch.zeros(7, 2), 3)
    with pytest.raises(ValueError, match="positive ints"):
        teye(0, 3)
    with pytest.raises(TypeError, match="accepted dtypes"):
        teye(2, 3, dtype=torch.int64)


# --------------------------------------------------------------------------- autograd


@pytest.mark.parametrize("n3", [1, 3, 4])
def test_tprod_gradcheck(n3):
    gen = torch.Generator().manual_seed(n3)
    A = rand(gen, 2, 3, n3).requires_grad_()
    B = rand(gen, 3, 2, n3).requires_grad_()
    assert torch.autograd.gradcheck(tprod, (A, B))


def test_tprod_gradient_is_the_transpose_rule():
    # d<G, A*B>/dA = G * B^T: the identity the FUSE backward pass relies on
    gen = torch.Generator().manual_seed(11)
    A, B, G = rand(gen, 2, 3, 5).requires_grad_(), rand(gen, 3, 4, 5), rand(gen, 2, 4, 5)
    (tprod(A, B) * G).sum().backward()
    assert close(A.grad, tprod(G, ttranspose(B)))


@pytest.mark.parametrize("n3", [2, 3])
def test_tpinv_gradcheck(n3):
    gen = torch.Generator().manual_seed(n3)
    A = rand(gen, 3, 2, n3).requires_grad_()
    assert torch.autograd.gradcheck(tpinv, (A,))
