"""FBP filters shared by the parallel-beam (operators.radon) and fan-beam
(operators.fanbeam) reconstructions: the band-limited ramp and its windows,
the filtering of projections, and the parallel-beam FBP scale factor.

The filters read only a geometry's detector count ``n_det`` and spacing ``ds``
(and, for :func:`fbp_scale`, ``n``, ``h``, ``angles`` and ``angle_range``), so
any object with those attributes serves: the fan beam passes its virtual
detector through the rotation centre.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from sciml.core import InvalidOption

__all__ = ["FILTERS", "fbp_filter", "filter_padded", "filter_sinogram", "fbp_scale"]

FILTERS = ("ram-lak", "shepp-logan", "cosine", "hamming", "hann")


def fbp_filter(geometry: Any, filter: str = "ram-lak", frequency_scaling: float = 1.0,
               shortest: bool = True) -> np.ndarray:
    """Frequency response (rfft layout, padded length) of the FBP filter.

    The ramp is the FFT of the band-limited spatial kernel of Kak and Slaney
    (``k(0) = 1/(4 ds^2)``, ``k(m) = -1/(pi m ds)^2`` for odd m, 0 for even m),
    times ds; windows (u = frequency / (scaling * Nyquist)): ram-lak 1,
    shepp-logan sinc(u/2), cosine cos(pi u/2), hamming 0.54 + 0.46 cos(pi u),
    hann (1 + cos(pi u))/2, and 0 for u > 1, on the frequencies of the
    power-of-two padding >= 2 D; returned there with ``shortest=False``, else
    at the shortest fast even length >= 2 D (:func:`_shortest`: the same
    convolution, faster).
    """
    if filter not in FILTERS:
        raise InvalidOption(f"filter={filter!r} is not allowed; choose one of {', '.join(FILTERS)}")
    if not (0 < frequency_scaling <= 1):
        raise InvalidOption(f"frequency_scaling={frequency_scaling!r} is out of range; allowed: (0, 1]")
    nd, ds = geometry.n_det, geometry.ds
    size = 1 << int(math.ceil(math.log2(2 * nd)))  # zero padding against wrap-around
    m = np.concatenate([np.arange(0, size // 2 + 1), np.arange(-size // 2 + 1, 0)])
    kernel = np.zeros(size)
    kernel[0] = 1.0 / (4.0 * ds * ds)
    odd = (m % 2) == 1
    kernel[odd] = -1.0 / (math.pi * m[odd] * ds) ** 2
    ramp = ds * np.real(np.fft.rfft(kernel))
    u = np.fft.rfftfreq(size) / (0.5 * frequency_scaling)  # 1 at the scaled Nyquist frequency
    if filter == "ram-lak":
        w = np.ones_like(u)
    elif filter == "shepp-logan":
        w = np.sinc(u / 2.0)
    elif filter == "cosine":
        w = np.cos(np.pi * u / 2.0)
    elif filter == "hamming":
        w = 0.54 + 0.46 * np.cos(np.pi * u)
    else:
        w = 0.5 * (1.0 + np.cos(np.pi * u))
    w[u > 1.0] = 0.0
    return _shortest(ramp * w, nd) if shortest else ramp * w


def _shortest(response: np.ndarray, nd: int) -> np.ndarray:
    """The same filter at the shortest fast even length >= 2 nd.

    A projection of nd bins meets only the taps |m| < nd of the spatial kernel,
    so those taps, zero-padded to any length >= 2 nd - 1, filter exactly as the
    power-of-two padding on which the windows are defined (identical up to
    rounding); a 5-smooth length such as 1458 for 725 bins transforms about 20 %
    faster than 2048 (720 x 725 sinogram: 9.5 vs 11.6 ms).
    """
    import scipy.fft
    size = 2 * (response.shape[0] - 1)
    fast = 2 * scipy.fft.next_fast_len(nd, real=True)
    if fast >= size:
        return response
    taps = np.fft.irfft(response, n=size)
    short = np.zeros(fast)
    short[:nd] = taps[:nd]
    short[fast - nd + 1:] = taps[size - nd + 1:]
    return np.real(np.fft.rfft(short))


def filter_padded(sino: np.ndarray, response: np.ndarray) -> np.ndarray:
    """The filtered projections in float64 at padded length (the first D entries count)."""
    import scipy.fft
    size = 2 * (response.shape[0] - 1)
    workers = -1 if sino.size >= 1 << 20 else 1  # threads pay off for batches only
    spec = scipy.fft.rfft(np.asarray(sino, dtype=np.float64), n=size, axis=-1, workers=workers)
    spec *= response
    return scipy.fft.irfft(spec, n=size, axis=-1, workers=workers)


def filter_sinogram(sino: np.ndarray, response: np.ndarray) -> np.ndarray:
    """Convolve each projection (last axis) with the filter given by ``response``."""
    nd = sino.shape[-1]
    return filter_padded(sino, response)[..., :nd].astype(sino.dtype, copy=False)


def fbp_scale(geometry: Any) -> float:
    """Factor turning ``A^T`` of a filtered sinogram into the FBP integral.

    f(x) = int_0^pi q_theta(x . omega) dtheta ~= (range / A) sum_a q_a(p), and
    the Joseph adjoint averages q over a hat of width h m that sums to h^2 / ds,
    so FBP = (range / A) (ds / h^2) A^T q.
    """
    g = geometry
    return math.radians(g.angle_range) / g.angles * g.ds / (g.h * g.h)
