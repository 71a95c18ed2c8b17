"""Fourier neural operators in 1D and 2D (Li et al., ICLR 2021, arXiv:2010.08895).

Architecture (the paper's section 4): a pointwise lift P of the input
channels (the input function and the grid coordinates) to ``width``
channels; ``layers`` Fourier layers v <- σ(K v + W v), where K multiplies
the lowest ``modes`` Fourier coefficients per dimension by learned complex
matrices (width x width) and truncates the rest, and W is a pointwise linear
map; σ = GELU except after the last layer; then a pointwise projection Q
(width -> 128 -> 1).  For non-periodic data the grid is zero-padded by
``padding`` points at the end of each dimension before the Fourier layers
and cropped after them (the paper's code for Darcy flow).

Because K acts on Fourier coefficients, the same weights apply at any
resolution (zero-shot super-resolution) as long as the (padded) grid has at
least 2*modes points per dimension.

Tensors are channels-last at the interface: (batch, n, c_in) in 1D,
(batch, nx, ny, c_in) in 2D.  Torch is imported here (operators/ modules
are only imported by torch-based solvers).
"""
from __future__ import annotations

import torch
from torch import nn

from sciml.core import InvalidOption

__all__ = ["SpectralConv1d", "SpectralConv2d", "FNO1d", "FNO2d", "check_modes", "fft_friendly_padding",
           "largest_prime_factor"]


def check_modes(modes: int, n: int, padding: int = 0) -> None:
    """Raise InvalidOption unless ``modes`` Fourier modes fit a grid of n (+ padding) points."""
    m = n + padding
    if modes < 1 or 2 * modes > m:
        raise InvalidOption(f"fno: modes={modes} is too large for a grid of {n} points "
                            f"(+{padding} padding = {m}); allowed: 1 <= modes <= {m // 2}")


def largest_prime_factor(n: int) -> int:
    """The largest prime factor of ``n`` (1 for n = 1)."""
    p, f = 1, 2
    while f * f <= n:
        while n % f == 0:
            p, n = f, n // f
        f += 1
    return max(p, n) if n > 1 else p


def fft_friendly_padding(n: int, padding: int) -> int:
    """The smallest padding >= ``padding`` with n + padding free of primes above 7.

    FFT libraries are several times slower on lengths with a large prime
    factor: at the FNO paper's Darcy setting, 85 + 9 = 94 = 2 x 47, one
    training step on one CPU thread takes 2.1-2.3x as long as with padding 11
    (96 = 2^5 x 3; rfft2 of 5 x 32 channels: 40 ms vs 7.6 ms, measured;
    scripts/bench_fno_padding.py).
    """
    p = padding
    while largest_prime_factor(n + p) > 7:
        p += 1
    return p


def _complex_weights(shape: tuple[int, ...], scale: float) -> nn.Parameter:
    # real and imaginary parts stored as a trailing dim of 2 (checkpoints stay real arrays)
    return nn.Parameter(scale * torch.rand(*shape, 2))


class SpectralConv1d(nn.Module):
    """v -> IFFT(R · FFT(v)[:modes]) with learned complex R (in, out, modes)."""

    def __init__(self, c_in: int, c_out: int, modes: int) -> None:
        super().__init__()
        self.modes = modes
        self.weight = _complex_weights((c_in, c_out, modes), 1.0 / (c_in * c_out))

    def forward(self, v: torch.Tensor) -> torch.Tensor:  # (b, c, n)
        n = v.shape[-1]
        check_modes(self.modes, n)
        vh = torch.fft.rfft(v, norm="forward")
        w = torch.view_as_complex(self.weight)
        out = torch.zeros(v.shape[0], w.shape[1], n // 2 + 1, dtype=vh.dtype, device=v.device)
        out[..., : self.modes] = torch.einsum("bix,iox->box", vh[..., : self.modes], w)
        return torch.fft.irfft(out, n=n, norm="forward")


class SpectralConv2d(nn.Module):
    """2D version: keeps modes k1 in [0, m) ∪ [-m, 0) and k2 in [0, m) (real FFT)."""

    def __init__(self, c_in: int, c_out: int, modes: int) -> None:
        super().__init__()
        self.modes = modes
        scale = 1.0 / (c_in * c_out)
        self.w_pos = _complex_weights((c_in, c_out, modes, modes), scale)
        self.w_neg = _complex_weights((c_in, c_out, modes, modes), scale)

    def forward(self, v: torch.Tensor) -> torch.Tensor:  # (b, c, nx, ny)
        nx, ny = v.shape[-2:]
        m = self.modes
        check_modes(m, min(nx, ny))
        vh = torch.fft.rfft2(v, norm="forward")
        out = torch.zeros(v.shape[0], self.w_pos.shape[1], nx, ny // 2 + 1, dtype=vh.dtype, device=v.device)
        out[:, :, :m, :m] = torch.einsum("bixy,ioxy->boxy", vh[:, :, :m, :m], torch.view_as_complex(self.w_pos))
        out[:, :, -m:, :m] = torch.einsum("bixy,ioxy->boxy", vh[:, :, -m:, :m], torch.view_as_complex(self.w_neg))
        return torch.fft.irfft2(out, s=(nx, ny), norm="forward")


class _FNO(nn.Module):
    dim = 0

    def __init__(self, c_in: int, modes: int, width: int, layers: int, padding: int) -> None:
        super().__init__()
        if layers < 1 or width < 1 or padding < 0:
            raise InvalidOption(f"fno: layers={layers}, width={width}, padding={padding}; "
                                "allowed: layers >= 1, width >= 1, padding >= 0")
        self.modes, self.width, self.padding = modes, width, padding
        conv = SpectralConv1d if self.dim == 1 else SpectralConv2d
        pointwise = nn.Conv1d if self.dim == 1 else nn.Conv2d
        self.lift = nn.Linear(c_in + self.dim, width)
        self.spectral = nn.ModuleList([conv(width, width, modes) for _ in range(layers)])
        self.pointwise = nn.ModuleList([pointwise(width, width, 1) for _ in range(layers)])
        self.proj = nn.Sequential(nn.Linear(width, 128), nn.GELU(), nn.Linear(128, 1))

    def _grid(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        axes = [torch.linspace(0.0, 1.0, n, dtype=like.dtype, device=like.device) for n in shape]
        mesh = torch.meshgrid(*axes, indexing="ij")
        return torch.stack(mesh, dim=-1).expand(like.shape[0], *shape, self.dim)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        """(b, *grid, c_in) -> (b, *grid): grid coordinates in [0, 1] are appended as channels."""
        shape = tuple(a.shape[1:-1])
        for n in shape:
            check_modes(self.modes, n, self.padding)
        v = self.lift(torch.cat([a, self._grid(shape, a)], dim=-1))
        v = v.movedim(-1, 1)  # channels first for the FFT layers
        if self.padding:
            v = nn.functional.pad(v, [0, self.padding] * self.dim)
        last = len(self.spectral) - 1
        for k, (K, W) in enumerate(zip(self.spectral, self.pointwise)):
            v = K(v) + W(v)
            if k < last:
                v = nn.functional.gelu(v)
        if self.padding:
            v = v[(..., *[slice(0, n) for n in shape])]
        return self.proj(v.movedim(1, -1)).squeeze(-1)


class FNO1d(_FNO):
    """FNO on (0, 1): input (b, n, c_in) -> output (b, n)."""

    dim = 1


class FNO2d(_FNO):
    """FNO on (0, 1)²: input (b, nx, ny, c_in) -> output (b, nx, ny)."""

    dim = 2
