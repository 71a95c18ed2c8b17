"""Fourier-Galerkin kernels for the Boltzmann collision operator of Maxwell molecules.

Velocity grid: ``v_j = -L + j h``, ``h = 2L/n``, j = 0..n-1 per axis, on the
periodised box [-L, L)^d.  f is represented by the trigonometric polynomial
``f(v) = Σ_k c_k exp(i π k·(v + L)/L)`` with integer modes k in
[-n/2, n/2 - 1]^d (``c = fftn(f_grid) / n^d``, FFT order).  The Nyquist modes
(of f and of Q̂) are set to zero: they are not Hermitian-paired, and dropping
them keeps f real and the mode range symmetric.

The Galerkin projection of the truncated operator is

    Q̂_k = Σ_{l + m = k} c_l c_m [β⁺(l, m) - β⁻(m)]          (l, m, k in range)

* **direct** (Pareschi and Russo, SIAM J. Numer. Anal. 37 (2000) 1217):
  relative velocities truncated to |q| <= R; for the constant Maxwell kernel
  (B |S^{d-1}| = 1) the weights depend only on |l + m| and |l - m|::

      dim 2: β⁺ = 2π ∫_0^R r J0(r|ξ_l + ξ_m|/2) J0(r|ξ_l - ξ_m|/2) dr
      dim 3: β⁺ = 4π ∫_0^R r² sinc(r|ξ_l + ξ_m|/2) sinc(r|ξ_l - ξ_m|/2) dr

  with ξ_k = π k / L and ``β⁻(m) = β⁺(m, m)``.  They are tabulated on the
  integers |l+m|², |l-m|² by Gauss-Legendre quadrature in r; the sum costs
  O(n^(2d)).

* **fast** (Mouhot and Pareschi, Math. Comp. 75 (2006) 1833), dim 2: the
  Carleman form with x, y in B(0, R) and x ⟂ y; for Maxwell molecules in 2D
  the kernel ``B̃ = 2B`` is constant, so with M directions θ_p = pπ/M

      β⁺(l, m) ≈ (π/M) B̃ Σ_p φ(ξ_l·e_p) φ(ξ_m·e_p^⟂),   φ(s) = 2R sinc(R s),

  and each term is a product in physical space: O(M n^d log n) with real FFTs
  zero-padded to 3n/2 (no wrap-around, so the same truncated sum as direct).
  For even M the direction p + M/2 is p turned by π/2 and gives the same
  product (φ is even), so M/2 pairs of transforms suffice; all pairs and the
  loss term go through one batched transform per call, weights cached.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

__all__ = ["MaxwellCollision", "default_radius", "signed_modes", "kernel_table",
           "conservative_projection", "grid_moments", "velocity_grid", "trig_eval"]


def signed_modes(n: int) -> np.ndarray:
    """Integer modes in FFT order: 0, 1, ..., n/2 - 1, -n/2, ..., -1."""
    return np.fft.fftfreq(n, 1.0 / n).round().astype(np.int64)


def velocity_grid(n: int, L: float, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(axis (n,), points (n^dim, dim)) of the periodic grid v_j = -L + j 2L/n."""
    axis = -L + (2.0 * L / n) * np.arange(n)
    mesh = np.meshgrid(*([axis] * dim), indexing="ij")
    return axis, np.stack([g.reshape(-1) for g in mesh], axis=1)


def default_radius(L: float, method: str) -> float:
    """Truncation radius for no aliasing on [-L, L]^d with support S = 2L/(3+√2):
    R = 2S (direct, Pareschi-Russo) or R = √2 S (fast, Mouhot-Pareschi)."""
    S = 2.0 * L / (3.0 + math.sqrt(2.0))
    return 2.0 * S if method == "direct" else math.sqrt(2.0) * S


def kernel_table(dim: int, n: int, L: float, R: float, n_radial: int | None = None) -> np.ndarray:
    """G[P, Q] = β⁺ for |l + m|² = P and |l - m|² = Q (P <= d n²/4, Q <= d n²).

    β⁻(m) = G[0, 4|m|²] by the symmetry of the integral.  Gauss-Legendre in r
    with enough nodes for the fastest oscillation (phase <= 2.2 √d n).
    """
    from scipy.special import j0
    pmax = dim * n * n // 4
    qmax = dim * n * n
    nr = n_radial or int(2.5 * math.sqrt(dim) * n) + 48
    x, w = np.polynomial.legendre.leggauss(nr)
    r = 0.5 * R * (x + 1.0)
    w = 0.5 * R * w
    scale = math.pi / (2.0 * L)
    a = scale * np.sqrt(np.arange(pmax + 1.0))
    b = scale * np.sqrt(np.arange(qmax + 1.0))
    if dim == 2:
        A = j0(np.outer(r, a))
        Bm = j0(np.outer(r, b))
        wr = 2.0 * math.pi * w * r
    else:
        A = np.sinc(np.outer(r, a) / math.pi)
        Bm = np.sinc(np.outer(r, b) / math.pi)
        wr = 4.0 * math.pi * w * r * r
    return (A * wr[:, None]).T @ Bm


def _numba_kernels():
    import numba as nb

    # Q̂ at the Nyquist modes is dropped (as for f), so the computed range is
    # symmetric and Q̂_{-k} = conj(Q̂_k): only kx >= 0 is summed.
    @nb.njit(parallel=True, cache=True)
    def direct2(c, G, n):
        half = n // 2
        out = np.zeros((n, n), dtype=np.complex128)
        for ixu in nb.prange(half):
            kx = np.int64(ixu)  # prange indices are unsigned: uint - int would be float
            for ky in range(-half + 1, half):
                P = kx * kx + ky * ky
                acc = 0j
                for lx in range(max(-half, kx - half + 1), min(half, kx + half + 1)):
                    mx = kx - lx
                    jlx = (lx + n) % n
                    jmx = (mx + n) % n
                    dx = lx - mx
                    for ly in range(max(-half, ky - half + 1), min(half, ky + half + 1)):
                        my = ky - ly
                        dy = ly - my
                        beta = G[P, dx * dx + dy * dy] - G[0, 4 * (mx * mx + my * my)]
                        acc += c[jlx, (ly + n) % n] * c[jmx, (my + n) % n] * beta
                out[kx, (ky + n) % n] = acc
                out[(n - kx) % n, (n - ky) % n] = np.conj(acc)
        return out

    @nb.njit(parallel=True, cache=True)
    def direct3(c, G, n):
        half = n // 2
        out = np.zeros((n, n, n), dtype=np.complex128)
        for ixu in nb.prange(half):
            kx = np.int64(ixu)
            for ky in range(-half + 1, half):
                for kz in range(-half + 1, half):
                    P = kx * kx + ky * ky + kz * kz
                    acc = 0j
                    for lx in range(max(-half, kx - half + 1), min(half, kx + half + 1)):
                        mx = kx - lx
                        jlx = (lx + n) % n
                        jmx = (mx + n) % n
                        dx = lx - mx
                        for ly in range(max(-half, ky - half + 1), min(half, ky + half + 1)):
                            my = ky - ly
                            jly = (ly + n) % n
                            jmy = (my + n) % n
                            dy = ly - my
                            for lz in range(max(-half, kz - half + 1), min(half, kz + half + 1)):
                                mz = kz - lz
                                dz = lz - mz
                                beta = (G[P, dx * dx + dy * dy + dz * dz]
                                        - G[0, 4 * (mx * mx + my * my + mz * mz)])
                                acc += c[jlx, jly, (lz + n) % n] * c[jmx, jmy, (mz + n) % n] * beta
                    out[kx, (ky + n) % n, (kz + n) % n] = acc
                    out[(n - kx) % n, (n - ky) % n, (n - kz) % n] = np.conj(acc)
        return out

    return direct2, direct3


@dataclass
class MaxwellCollision:
    """Q(f, f) on the periodic grid, for Maxwell molecules (B |S^{d-1}| = 1).

    ``__call__(f)`` takes grid values (shape (n,)*dim) and returns Q(f, f) at
    the grid points.  ``method`` is "direct" (O(n^(2d))) or "fast" (dim 2,
    O(M n^d log n)).
    """

    dim: int
    n: int
    L: float
    method: Literal["direct", "fast"] = "direct"
    M: int = 8
    R: float | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.dim not in (2, 3):
            raise ValueError(f"dim={self.dim!r}: only 2 and 3")
        if self.n < 4 or self.n % 2:
            raise ValueError(f"n={self.n!r}: an even number >= 4 is needed")
        if self.method == "fast" and self.dim != 2:
            raise ValueError("the fast method is implemented for dim 2 (where the Maxwell kernel separates)")
        if self.R is None:
            self.R = default_radius(self.L, self.method)

    # ---------------------------------------------------------- coefficients
    def coefficients(self, f: np.ndarray) -> np.ndarray:
        return self._drop_nyquist(np.fft.fftn(f) / f.size)

    def _drop_nyquist(self, c: np.ndarray) -> np.ndarray:
        nyq = self.n // 2
        for ax in range(self.dim):  # the unpaired Nyquist modes (dropping them keeps f real)
            idx = [slice(None)] * self.dim
            idx[ax] = nyq
            c[tuple(idx)] = 0.0
        return c

    def to_grid(self, chat: np.ndarray) -> np.ndarray:
        return np.real(np.fft.ifftn(chat) * chat.size)

    def coefficients_Q(self, c: np.ndarray) -> np.ndarray:
        """Q̂_k from the coefficients c_k (both in FFT order)."""
        if self.method == "direct":
            if "direct" not in self._cache:
                self._cache["direct"] = (_numba_kernels(), kernel_table(self.dim, self.n, self.L, self.R))
            (d2, d3), G = self._cache["direct"]
            return (d2 if self.dim == 2 else d3)(np.ascontiguousarray(c), G, self.n)
        n, h = self.n, self.n // 2
        half = self._fast_truncate(self._fast_product(c[:, :h]))
        full = np.zeros((n, n), dtype=complex)
        full[:, :h] = half
        flip = (-np.arange(n)) % n  # Q̂_{-k} = conj(Q̂_k) gives the k_y < 0 half
        full[:, n - np.arange(1, h)] = np.conj(half[flip, 1:h])
        return self._drop_nyquist(full)

    # below this n the fast method's last step (project the padded-grid product on
    # the n-mode space, evaluate on the grid) is two small matrix products, above
    # it three FFT calls; the same linear map (measured crossover n ≈ 64 on one core)
    fast_matmul_max_n: ClassVar[int] = 48

    def __call__(self, f: np.ndarray) -> np.ndarray:
        if self.method == "fast":
            # same operator, grid to grid on the half spectrum (real FFTs, no full array)
            from scipy import fft as sfft
            n, h = self.n, self.n // 2
            prod = self._fast_product(sfft.rfft2(f, norm="forward", workers=1)[:, :h])
            if n <= self.fast_matmul_max_n:
                T = self._fast_resample()
                return T @ (prod @ T.T)
            q = np.zeros((n, h + 1), dtype=complex)  # column h: the dropped Nyquist modes
            q[:, :h] = self._fast_truncate(prod)
            return sfft.irfft2(q, s=(n, n), norm="forward", workers=1)
        return self.to_grid(self.coefficients_Q(self.coefficients(f)))

    # ------------------------------------------------------------------- fast
    def _fast_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Weights of the 2K spectra transformed per call, on the half spectrum
        (k_x in FFT order without the Nyquist row, 0 <= k_y < n/2): shape (2K, n - 1, n/2).

        Pair j (rows j and K + j) contributes IFFT(c u_j) · IFFT(c w_j) to Q in
        physical space.  Gain: u = φ_p, w = (π/M) B̃ ψ_p.  For even M the direction
        p + M/2 is p turned by π/2, so φ_{p+M/2} = ψ_p and ψ_{p+M/2} = φ_p (φ is
        even): its term equals that of p, and only p < M/2 is kept, with weight 2.
        Loss: u = 1, w = -β⁻ (β⁻(m) = β⁺(m, m) by the same quadrature).
        """
        if "fast" not in self._cache:
            n, L, R, M = self.n, self.L, self.R, self.M
            k = signed_modes(n) * (math.pi / L)
            k = np.delete(k, n // 2)  # the Nyquist row of f and Q̂ is zero
            kx, ky = np.meshgrid(k, k[: n // 2], indexing="ij")
            theta = math.pi * np.arange(M) / M
            ex, ey = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
            # φ(s) = ∫_{-R}^{R} e^{iρs} dρ = 2R sinc(Rs)
            phi = 2.0 * R * np.sinc(R * (kx * ex + ky * ey) / math.pi)
            psi = 2.0 * R * np.sinc(R * (-kx * ey + ky * ex) / math.pi)
            Btilde = 2.0 / (2.0 * math.pi)  # 2^{d-1} B in dim 2
            wgt = (math.pi / M) * Btilde
            loss = wgt * np.sum(phi * psi, axis=0)
            p = M // 2 if M % 2 == 0 else M
            fold = 2.0 if M % 2 == 0 else 1.0
            u = np.concatenate([phi[:p], np.ones((1,) + kx.shape)])
            w = np.concatenate([fold * wgt * psi[:p], -loss[None]])
            self._cache["fast"] = np.ascontiguousarray(np.concatenate([u, w]))
        return self._cache["fast"]

    def _fast_product(self, ch: np.ndarray) -> np.ndarray:
        """Σ_j IFFT(c u_j) IFFT(c w_j) on the padded grid of P = 3n/2 points per
        axis, from c on the half spectrum (n, n/2) (k_y >= 0).

        All 2K transforms run in one batch; the k_x transform only on the n/2
        nonzero k_y columns.  Products of two functions with modes |k_i| < n/2
        have modes |k_i| <= n - 2, so on this grid the wanted modes |k_i| < n/2
        are free of wrap-around: the same truncated Galerkin sum as direct.
        """
        from scipy import fft as sfft
        W = self._fast_weights()
        n, h = self.n, self.n // 2
        P = 3 * n // 2
        K = W.shape[0] // 2
        buf = np.zeros((2 * K, P, h), dtype=complex)
        np.multiply(W[:, :h], ch[:h], out=buf[:, :h])  # k_x = 0 .. n/2 - 1
        np.multiply(W[:, h:], ch[h + 1:], out=buf[:, P - h + 1:])  # k_x = -(n/2 - 1) .. -1
        buf = sfft.ifft(buf, axis=1, norm="forward", overwrite_x=True, workers=1)
        A = sfft.irfft(buf, n=P, axis=2, norm="forward", workers=1)
        return np.einsum("pij,pij->ij", A[:K], A[K:])

    def _fast_truncate(self, prod: np.ndarray) -> np.ndarray:
        """Q̂ on the half spectrum (n, n/2): the modes |k_i| < n/2 of the padded-grid product."""
        from scipy import fft as sfft
        n, h = self.n, self.n // 2
        P = prod.shape[0]
        Qp = sfft.fft(sfft.rfft(prod, axis=1, norm="forward", workers=1)[:, :h], axis=0,
                      norm="forward", overwrite_x=True, workers=1)
        half = np.zeros((n, h), dtype=complex)
        half[:h] = Qp[:h]
        half[h + 1:] = Qp[P - h + 1:]
        return half

    def _fast_resample(self) -> np.ndarray:
        """T (n, P), real: T g = the modes |k| < n/2 of g on the padded grid,
        evaluated on the n-point grid (both grids start at -L):
        T_ji = (1/P) Σ_{|k| < n/2} cos(2πk (j/n - i/P)), a Dirichlet kernel."""
        if "resample" not in self._cache:
            n, h = self.n, self.n // 2
            P = 3 * n // 2
            k = np.arange(-h + 1, h)
            phase = 2.0 * math.pi * (np.arange(n)[:, None] / n - np.arange(P)[None, :] / P)
            self._cache["resample"] = np.cos(phase[:, :, None] * k).sum(axis=2) / P
        return self._cache["resample"]


# --------------------------------------------------------------- conservation
def grid_moments(f: np.ndarray, points: np.ndarray, h: float) -> np.ndarray:
    """(mass, momentum_1..d, energy) of grid values by the trapezoidal rule."""
    fv = f.reshape(-1)
    w = h ** points.shape[1]
    return w * np.concatenate([[fv.sum()], points.T @ fv, [np.sum(points ** 2, axis=1) @ fv]])


def conservative_projection(points: np.ndarray):
    """Return P(q): the L2-closest q' to q with zero discrete mass, momentum and
    energy (Gamba and Tharkabhushanam 2009; Pareschi and Russo's correction):
    q' = q - Cᵀ (C Cᵀ)⁻¹ C q with rows of C = (1, v, |v|²) on the grid."""
    C = np.vstack([np.ones(len(points)), points.T, np.sum(points ** 2, axis=1)])
    CCt_inv_C = np.linalg.solve(C @ C.T, C)

    def project(q: np.ndarray) -> np.ndarray:
        qv = q.reshape(-1)
        return (qv - C.T @ (CCt_inv_C @ qv)).reshape(q.shape)

    return project


# ---------------------------------------------------------------- evaluation
def trig_eval(values: np.ndarray, L: float, x: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Trigonometric interpolant of periodic grid values at arbitrary points x (N, d)."""
    d = values.ndim
    n = values.shape[0]
    c = np.fft.fftn(values) / values.size
    k = signed_modes(n).astype(float)
    x = np.atleast_2d(np.asarray(x, dtype=float))
    out = np.empty(len(x))
    for s in range(0, len(x), chunk):
        xs = x[s:s + chunk]
        E = [np.exp(1j * math.pi * np.outer(xs[:, a] + L, k) / L) for a in range(d)]
        if d == 1:
            out[s:s + chunk] = np.real(E[0] @ c)
        elif d == 2:
            T = c @ E[1].T  # (n, N)
            out[s:s + chunk] = np.real(np.einsum("ap,pa->p", T, E[0]))
        else:
            T = (c.reshape(n * n, n) @ E[2].T).reshape(n, n, -1)
            T2 = np.einsum("abp,pb->ap", T, E[1])
            out[s:s + chunk] = np.real(np.einsum("ap,pa->p", T2, E[0]))
    return out
