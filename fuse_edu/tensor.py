"""The t-product algebra of third-order tensors (Kilmer & Martin 2011), as FUSE uses it.

A third-order tensor A of shape (n1, n2, n3) is read as an n1 x n2 matrix whose entries are "tubes"
of length n3. The t-product multiplies such tensors like matrices, with circular convolution of
tubes in place of scalar multiplication:

    A * B = fold(bcirc(A) @ unfold(B))                          (the definition)
          = irfft( rfft(A) "slice-wise @" rfft(B) )             (what we compute)

The Fourier transform along mode 3 block-diagonalises bcirc(A), so the product costs n3 small
matmuls plus FFTs instead of one (n1*n3) x (n2*n3) matmul. Real input has a conjugate-symmetric
spectrum, so only floor(n3/2) + 1 Fourier slices need work.

Fast path (used everywhere else in fuse_edu): ``tprod``, ``ttranspose``, ``tpinv``, ``teye``.
Readable reference (for teaching and tests): ``bcirc``, ``unfold``, ``fold``, ``tprod_bcirc``.
All functions take torch float32/float64 tensors on any device, keep dtype and device, and are
differentiable with autograd.
"""

from __future__ import annotations

import torch

__all__ = ["tprod", "ttranspose", "tpinv", "teye", "bcirc", "unfold", "fold", "tprod_bcirc"]

ACCEPTED_DTYPES = (torch.float32, torch.float64)


# --------------------------------------------------------------------------- input checks


def _check_tensor(fn: str, name: str, X: object, ndim: int = 3) -> None:
    """Fail early with a message that says what is accepted; FFT errors deep in torch do not."""
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{fn}: {name} must be a torch.Tensor, got {type(X).__name__}")
    if X.dtype not in ACCEPTED_DTYPES:
        raise TypeError(
            f"{fn}: {name} has dtype {X.dtype}; accepted dtypes are torch.float32 and torch.float64"
        )
    if X.dim() != ndim:
        what = "a third-order tensor (n1, n2, n3)" if ndim == 3 else f"a {ndim}-D tensor"
        raise ValueError(f"{fn}: {name} must be {what}, got shape {tuple(X.shape)}")


def _check_pair(fn: str, A: torch.Tensor, B: torch.Tensor) -> None:
    _check_tensor(fn, "A", A)
    _check_tensor(fn, "B", B)
    if A.shape[1] != B.shape[0] or A.shape[2] != B.shape[2]:
        raise ValueError(
            f"{fn}: A has shape {tuple(A.shape)} and B has shape {tuple(B.shape)}; "
            "need A.shape[1] == B.shape[0] and equal n3"
        )
    if A.dtype != B.dtype:
        raise TypeError(f"{fn}: A has dtype {A.dtype} and B has dtype {B.dtype}; cast one so they match")
    if A.device != B.device:
        raise ValueError(f"{fn}: A is on {A.device} and B is on {B.device}; move both to one device")


# --------------------------------------------------------------------------- fast path (FFT)


def tprod(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """t-product A * B of A (n1, n2, n3) and B (n2, n4, n3); returns (n1, n4, n3).

    One batched matmul over the floor(n3/2)+1 Fourier slices; no Python loop over slices.
    """
    _check_pair("tprod", A, B)
    n3 = A.shape[2]
    # matmul batches over leading dims, so move the frequency axis to the front
    A_hat = torch.fft.rfft(A, dim=2).permute(2, 0, 1)  # (n3//2+1, n1, n2) complex
    B_hat = torch.fft.rfft(B, dim=2).permute(2, 0, 1)  # (n3//2+1, n2, n4) complex
    C_hat = (A_hat @ B_hat).permute(1, 2, 0)  # (n1, n4, n3//2+1)
    # n=n3 is required: the half spectrum alone cannot tell an odd n3 from the next even one
    return torch.fft.irfft(C_hat, n=n3, dim=2)  # (n1, n4, n3)


def ttranspose(A: torch.Tensor) -> torch.Tensor:
    """t-transpose of A (n1, n2, n3): transpose every frontal slice, reverse slices 2..n3; (n2, n1, n3).

    Reversing the later slices turns circular convolution into circular correlation, which is what
    makes (A * B)^T = B^T * A^T hold, just as for matrices.
    """
    _check_tensor("ttranspose", "A", A)
    n3 = A.shape[2]
    order = (-torch.arange(n3, device=A.device)) % n3  # [0, n3-1, n3-2, ..., 1]
    return A.transpose(0, 1)[:, :, order]  # (n2, n1, n3)


def tpinv(A: torch.Tensor, rtol: float | None = None) -> torch.Tensor:
    """Moore-Penrose t-pseudo-inverse of A (n1, n2, n3); returns (n2, n1, n3).

    Each Fourier-domain slice gets its matrix pseudo-inverse; ``rtol`` is passed to
    ``torch.linalg.pinv`` (singular values below rtol * largest of that slice count as zero).
    The result satisfies the four Moore-Penrose conditions under the t-product.
    """
    _check_tensor("tpinv", "A", A)
    n3 = A.shape[2]
    A_hat = torch.fft.rfft(A, dim=2).permute(2, 0, 1)  # (n3//2+1, n1, n2) complex
    # pinv(conj(M)) = conj(pinv(M)), so the half spectrum stays conjugate-symmetric and irfft is exact
    X_hat = torch.linalg.pinv(A_hat, rtol=rtol).permute(1, 2, 0)  # (n2, n1, n3//2+1)
    return torch.fft.irfft(X_hat, n=n3, dim=2)  # (n2, n1, n3)


def teye(
    n: int, n3: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """t-identity of shape (n, n, n3): first frontal slice is I, the others are 0.

    Its every Fourier slice is I, so teye(n1, n3) * A == A == A * teye(n2, n3).
    """
    if not isinstance(n, int) or not isinstance(n3, int) or n < 1 or n3 < 1:
        raise ValueError(f"teye: n and n3 must be positive ints, got n={n!r}, n3={n3!r}")
    if dtype not in ACCEPTED_DTYPES:
        raise TypeError(f"teye: dtype {dtype}; accepted dtypes are torch.float32 and torch.float64")
    I = torch.zeros(n, n, n3, dtype=dtype, device=device)  # (n, n, n3)
    I[:, :, 0] = torch.eye(n, dtype=dtype, device=device)
    return I


# --------------------------------------------------------------------------- readable reference


def bcirc(A: torch.Tensor) -> torch.Tensor:
    """Block-circulant matrix of A (n1, n2, n3); returns (n1*n3, n2*n3).

    Block (i, j) is the frontal slice A[:, :, (i - j) mod n3], so the first block column lists the
    frontal slices in order and each later block column is the one before, shifted down one block.
    """
    _check_tensor("bcirc", "A", A)
    n1, n2, n3 = A.shape
    i = torch.arange(n3, device=A.device)
    which = (i[:, None] - i[None, :]) % n3  # (n3, n3): which slice sits in block (i, j)
    blocks = A[:, :, which]  # (n1, n2, n3, n3) = [row r, col c, block i, block j]
    return blocks.permute(2, 0, 3, 1).reshape(n3 * n1, n3 * n2)  # rows (i, r), cols (j, c)


def unfold(B: torch.Tensor) -> torch.Tensor:
    """Stack the frontal slices of B (n2, n4, n3) on top of each other; returns (n2*n3, n4)."""
    _check_tensor("unfold", "B", B)
    n2, n4, n3 = B.shape
    return B.permute(2, 0, 1).reshape(n3 * n2, n4)  # (n2*n3, n4)


def fold(M: torch.Tensor, n3: int) -> torch.Tensor:
    """Inverse of ``unfold``: cut M (n*n3, m) into n3 blocks of rows; returns (n, m, n3)."""
    _check_tensor("fold", "M", M, ndim=2)
    if not isinstance(n3, int) or n3 < 1 or M.shape[0] % n3 != 0:
        raise ValueError(f"fold: M has shape {tuple(M.shape)}; need n3 >= 1 dividing M.shape[0], got n3={n3!r}")
    rows, m = M.shape
    return M.reshape(n3, rows // n3, m).permute(1, 2, 0)  # (n, m, n3)


def tprod_bcirc(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """t-product straight from its definition, fold(bcirc(A) @ unfold(B)); (n1, n4, n3).

    O(n1 n2 n4 n3^2) work and (n1 n3) x (n2 n3) memory: for teaching and tests, not for use.
    """
    _check_pair("tprod_bcirc", A, B)
    return fold(bcirc(A) @ unfold(B), A.shape[2])  # (n1, n4, n3)
