"""Fitting one FUSE adapter bucket: T_K = argmin_T ||X_A * T - X_B||_F.

The t-product is block-diagonal in the Fourier domain along mode 3, so the least-squares problem
splits into one ordinary (complex) least-squares problem per Fourier slice f:

    T_hat_f = argmin ||A_hat_f T_hat_f - B_hat_f||   with A_hat_f (n, d_A), B_hat_f (n, d_B).

We solve each by the normal equations, (A_hat_f^H A_hat_f + lambda I) T_hat_f = A_hat_f^H B_hat_f,
with a Cholesky factorisation: d_A x d_A work per slice instead of the SVD of an n x d_A matrix that
an explicit pseudo-inverse needs. Real input has a conjugate-symmetric spectrum, so only the
floor(K/2) + 1 slices of ``rfft`` are solved; ``irfft`` rebuilds a real T.

Deviation from the paper, named: the **ridge** term. The paper's T_K = X_A^+ * X_B has no
regulariser; buckets with fewer words than d_A (rare, long words) make the normal equations
singular. ``ridge`` is relative: lambda = ridge * ||X_A||_F^2 / d_A, the mean diagonal of the
Fourier-slice Gram matrices, the same lambda for every slice, so it is an ordinary ridge penalty on
T in the spatial domain too. ``ridge=0`` gives the paper's exact least squares when every slice has
full column rank.
"""

from __future__ import annotations

import torch

from fuse_edu.tensor import _check_tensor

DEFAULT_RIDGE = 1e-4


def fit_bucket(X_A: torch.Tensor, X_B: torch.Tensor, ridge: float = DEFAULT_RIDGE) -> torch.Tensor:
    """T (d_A, d_B, K) minimising ||X_A * T - X_B||_F^2 + lambda ||T||^2 for X_A (n, d_A, K), X_B (n, d_B, K).

    Solved in the inputs' precision on their device (float32 -> complex64 slices). The ridge bounds
    the Gram matrices' condition number, which is what makes float32 normal equations safe; pass
    float64 tensors for ``ridge=0`` or for reference-grade accuracy.
    """
    _check_tensor("fit_bucket", "X_A", X_A)
    _check_tensor("fit_bucket", "X_B", X_B)
    if X_A.shape[0] != X_B.shape[0] or X_A.shape[2] != X_B.shape[2]:
        raise ValueError(
            f"fit_bucket: X_A has shape {tuple(X_A.shape)} and X_B has shape {tuple(X_B.shape)}; "
            "need the same number of words n (mode 1) and the same K (mode 3)"
        )
    if X_A.shape[0] == 0:
        raise ValueError("fit_bucket: no words (n = 0); a bucket needs at least one word to fit")
    if not (isinstance(ridge, (int, float)) and ridge >= 0):
        raise ValueError(f"fit_bucket: ridge must be a number >= 0, got {ridge!r}")
    n, d_A, K = X_A.shape
    A_hat = torch.fft.rfft(X_A, dim=2)                       # (n, d_A, F), F = K//2 + 1
    B_hat = torch.fft.rfft(X_B.to(X_A.dtype), dim=2)         # (n, d_B, F)
    lam = ridge * float(X_A.double().square().sum()) / d_A
    T_hat = torch.stack([
        # The DC slice (and the Nyquist slice for even K) of a real signal is real: solving it in
        # real arithmetic costs a quarter of a complex solve, and those are most slices for K <= 4.
        _solve_normal_equations(A_hat[:, :, f].real, B_hat[:, :, f].real, lam, f).to(A_hat.dtype)
        if f == 0 or 2 * f == K else
        _solve_normal_equations(A_hat[:, :, f], B_hat[:, :, f], lam, f)
        for f in range(A_hat.shape[2])
    ], dim=2)                                                 # (d_A, d_B, F)
    return torch.fft.irfft(T_hat, n=K, dim=2)                 # (d_A, d_B, K)


def _solve_normal_equations(A: torch.Tensor, B: torch.Tensor, lam: float, slice_index: int) -> torch.Tensor:
    """argmin_T ||A T - B||^2 + lam ||T||^2 for A (n, d_A), B (n, d_B), real or complex, via Cholesky."""
    gram = A.mH @ A                                           # (d_A, d_A) Hermitian
    gram.diagonal().add_(lam)
    factor, info = torch.linalg.cholesky_ex(gram)            # (d_A, d_A) lower triangular
    if info:
        raise ValueError(
            f"fit_bucket: the Gram matrix of Fourier slice {slice_index} is singular ({A.shape[0]} words for "
            f"d_A = {A.shape[1]}); use ridge > 0 or give the bucket more words than d_A"
        )
    return torch.cholesky_solve(A.mH @ B, factor)            # (d_A, d_B)


def fit_residual(X_A: torch.Tensor, X_B: torch.Tensor, T: torch.Tensor) -> float:
    """Relative fit error ||X_A * T - X_B||_F / ||X_B||_F."""
    from fuse_edu.tensor import tprod

    return float(torch.linalg.vector_norm(tprod(X_A, T) - X_B) / torch.linalg.vector_norm(X_B).clamp_min(1e-30))
