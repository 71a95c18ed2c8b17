"""The parallel-beam Joseph matrix of :mod:`operators.radon` in torch: batched,
differentiable through autograd, on the CPU or CUDA (:class:`TorchRadon`).
The conventions (image, angles, detectors) are those of operators.radon.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from sciml.core import InvalidProblem

from .filters import fbp_filter
from .norms import power_norm

if TYPE_CHECKING:
    from .radon import Geometry

__all__ = ["TorchRadon"]


class TorchRadon:
    """The same Joseph matrix in torch: batched, differentiable, CPU or CUDA.

    ``forward(x)`` maps (..., n, n) to (..., A, D); ``adjoint(y)`` is its exact
    transpose (a scatter-add of the same weights), so autograd of either is
    the other.  The (A, D, n, 2) table of pixel indices (int32) and weights is
    built once; calls process chunks of angles so that the gathered values
    stay below about ``chunk_elems`` numbers.
    """

    def __init__(self, geometry: "Geometry", device: str = "cpu", dtype: str = "float64",
                 chunk_elems: int = 1 << 24) -> None:
        import torch
        from sciml.torch_utils import torch_device, torch_dtype
        self.geometry = geometry
        self.device = torch_device(device)
        self.dtype = torch_dtype(dtype)
        self.chunk_elems = int(chunk_elems)
        th = torch.as_tensor(geometry.theta, dtype=torch.float64)
        self._index, self._weight = self._table(torch.cos(th), torch.sin(th))
        self._response: dict[tuple[str, float], Any] = {}

    def _table(self, c, sn):
        """Flat pixel indices (int32) and weights, each (A, D, n, 2)."""
        import torch
        g = self.geometry
        n, h = g.n, g.h
        rows = c.abs() >= sn.abs()
        u = torch.where(rows, c, sn)[:, None, None]
        v = torch.where(rows, sn, c)[:, None, None]
        s = (torch.as_tensor(g.s0, dtype=torch.float64)[:, None, None]  # per-angle bin 0 (rotation centre)
             + torch.arange(g.n_det, dtype=torch.float64)[None, :, None] * g.ds)
        t = (-1.0 + (torch.arange(n, dtype=torch.float64) + 0.5) * h)[None, None, :]
        x = (s - t * v) / u
        jf = (x + 1.0) / h - 0.5
        j0 = torch.floor(jf)
        fr = jf - j0
        j0 = j0.long()
        walk = torch.arange(n)[None, None, :].expand_as(j0)
        idx, wts = [], []
        for jj, ww in ((j0, 1.0 - fr), (j0 + 1, fr)):
            ok = (jj >= 0) & (jj < n)
            jc = jj.clamp(0, n - 1)
            idx.append(torch.where(rows[:, None, None], walk * n + jc, jc * n + walk))
            wts.append(torch.where(ok, ww, torch.zeros_like(ww)))
        scale = (h / torch.maximum(c.abs(), sn.abs()))[:, None, None, None]
        index = torch.stack(idx, -1).to(torch.int32).to(self.device)
        weight = (torch.stack(wts, -1) * scale).to(self.device, self.dtype)
        return index, weight

    def matrix(self):
        """The projection matrix K as a coalesced torch sparse COO tensor of shape
        (rays, pixels) = (A * D, n * n), rows and columns row-major (angle then
        detector; image row then column), in this operator's dtype and on its
        device; the zero weights of rays leaving the image are dropped.
        ``forward`` is ``K @ x`` and ``adjoint`` is ``K^T @ y`` (same weights)."""
        import torch
        g = self.geometry
        index = self._index.reshape(-1).long()   # (A, D, n, 2) pixel indices, row-major per ray
        weight = self._weight.reshape(-1)
        n_rays, n_pix = g.angles * g.n_det, g.n * g.n
        rows = torch.arange(n_rays, device=index.device).repeat_interleave(index.numel() // n_rays)
        keep = weight != 0
        return torch.sparse_coo_tensor(torch.stack([rows[keep], index[keep]]), weight[keep], (n_rays, n_pix),
                                       check_invariants=True).coalesce()

    def _chunks(self, batch: int):
        g = self.geometry
        per_angle = max(1, batch) * g.n_det * g.n * 2
        step = max(1, self.chunk_elems // per_angle)
        for a0 in range(0, g.angles, step):
            yield a0, min(a0 + step, g.angles)

    def forward(self, x):
        import torch
        g = self.geometry
        if tuple(x.shape[-2:]) != g.image_shape:
            raise InvalidProblem(f"image shape {tuple(x.shape)} does not match the geometry's {g.image_shape}")
        lead = x.shape[:-2]
        cols = x.reshape(-1, g.n * g.n).t()  # (n^2, B): a gathered pixel brings the whole batch
        parts = []
        for a0, a1 in self._chunks(cols.shape[1]):
            index, weight = self._index[a0:a1], self._weight[a0:a1]
            vals = cols.index_select(0, index.reshape(-1)) * weight.reshape(-1, 1)
            parts.append(vals.reshape(a1 - a0, g.n_det, -1, cols.shape[1]).sum(dim=2))
        return torch.cat(parts, dim=0).permute(2, 0, 1).reshape(*lead, *g.sino_shape)

    __call__ = forward

    def adjoint(self, y):
        import torch
        g = self.geometry
        if tuple(y.shape[-2:]) != g.sino_shape:
            raise InvalidProblem(f"sinogram shape {tuple(y.shape)} does not match the geometry "
                                 f"(angles, detectors) = {g.sino_shape}")
        lead = y.shape[:-2]
        flat = y.reshape(-1, *g.sino_shape)
        nb = flat.shape[0]
        out = torch.zeros(g.n * g.n, nb, dtype=y.dtype, device=y.device)
        for a0, a1 in self._chunks(nb):
            index, weight = self._index[a0:a1], self._weight[a0:a1]
            src = flat[:, a0:a1].permute(1, 2, 0)[:, :, None, None, :] * weight[..., None]  # (a, D, n, 2, B)
            out = out.index_add(0, index.reshape(-1), src.reshape(-1, nb))
        return out.t().reshape(*lead, g.n, g.n)

    def backproject_linear(self, q):
        """The FBP back-projector (see :func:`fbp`): (..., A, D) -> (..., n, n), differentiable."""
        import torch
        g = self.geometry
        if not hasattr(self, "_bp"):
            th = torch.as_tensor(g.theta, dtype=torch.float64)
            x = -1.0 + (torch.arange(g.n, dtype=torch.float64) + 0.5) * g.h
            p = x[None, None, :] * torch.cos(th)[:, None, None] + x[None, :, None] * torch.sin(th)[:, None, None]
            kf = (p - torch.as_tensor(g.s0, dtype=torch.float64)[:, None, None]) / g.ds
            k0 = torch.floor(kf)
            fr = kf - k0
            k0 = k0.long()
            a = torch.arange(g.angles)[:, None, None] * g.n_det
            idx, wts = [], []
            for kk, ww in ((k0, 1.0 - fr), (k0 + 1, fr)):
                ok = (kk >= 0) & (kk < g.n_det)
                idx.append(a + kk.clamp(0, g.n_det - 1))
                wts.append(torch.where(ok, ww, torch.zeros_like(ww)))
            self._bp = (torch.stack(idx).reshape(2, -1).to(self.device),
                        torch.stack(wts).reshape(2, g.angles, g.n * g.n).to(self.device, self.dtype))
        index, weight = self._bp
        lead = q.shape[:-2]
        flat = q.reshape(-1, g.angles * g.n_det)
        vals = flat.index_select(1, index.reshape(-1)).reshape(flat.shape[0], 2, g.angles, g.n * g.n)
        out = (vals * weight).sum(dim=(1, 2))
        return out.reshape(*lead, g.n, g.n)

    def fbp(self, y, filter: str = "ram-lak", frequency_scaling: float = 1.0):
        """Differentiable filtered back-projection of (..., A, D) sinograms (as :func:`fbp`)."""
        import torch
        key = (filter, float(frequency_scaling))
        if key not in self._response:
            resp = fbp_filter(self.geometry, filter, frequency_scaling)
            self._response[key] = torch.as_tensor(resp, dtype=self.dtype, device=self.device)
        resp = self._response[key]
        nd = self.geometry.n_det
        size = 2 * (resp.shape[0] - 1)
        q = torch.fft.irfft(torch.fft.rfft(y, n=size, dim=-1) * resp, n=size, dim=-1)[..., :nd]
        g = self.geometry
        if g.theta_values:  # per-angle quadrature weights, as :func:`fbp`
            w = torch.as_tensor(g.angle_weights, dtype=q.dtype, device=q.device)
            return self.backproject_linear(q * w[:, None])
        return math.radians(g.angle_range) / g.angles * self.backproject_linear(q)

    def norm(self, iterations: int = 50, seed: int = 0) -> float:
        import torch

        def normal(v: np.ndarray) -> np.ndarray:
            t = torch.as_tensor(v, dtype=self.dtype, device=self.device)
            return self.adjoint(self.forward(t)).cpu().numpy().astype(np.float64)
        return power_norm(normal, self.geometry.image_shape, iterations=iterations, seed=seed)
