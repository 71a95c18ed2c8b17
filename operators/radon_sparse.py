"""The Joseph matrix of the torch projectors held as CSR matrices
(:class:`SparseProjector`): each of forward and adjoint is one sparse-dense
product, differentiable (the derivative of each product is the other).
"""
from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np

__all__ = ["SparseProjector", "sparse_projector"]


def sparse_projector(geometry: Any, device: Any = "cpu", dtype: str = "float32") -> "SparseProjector":
    """The Joseph projector of ``geometry`` (parallel :class:`operators.radon.Geometry`
    or :class:`operators.fanbeam.FanGeometry`) as a :class:`SparseProjector`
    (the matrix is built in float64 on the CPU, then converted)."""
    from .fanbeam import FanGeometry, TorchFanRadon
    from .radon_torch import TorchRadon
    cls = TorchFanRadon if isinstance(geometry, FanGeometry) else TorchRadon
    return SparseProjector(cls(geometry, device="cpu", dtype="float64"), device=device, dtype=dtype)


class SparseProjector:
    """The matrix of a torch projector (:class:`operators.radon_torch.TorchRadon`
    or :class:`operators.fanbeam.TorchFanRadon`, read through their public
    ``matrix()``) held twice in CSR form, K and K^T, so that ``forward`` and
    ``adjoint`` are each one sparse-dense product.

    Same matrix, same results (to rounding) as the projector's own forward
    and adjoint; the projector's adjoint is a scatter-add, about 50x slower
    than the CSR product at 128^2 / 30 angles on one thread, which matters to
    a network applying it many times per pass.
    """

    def __init__(self, op: Any, device: Any = "cpu", dtype: str = "float32") -> None:
        import torch
        from sciml.torch_utils import torch_dtype
        self.geometry = op.geometry
        coo = op.matrix().cpu().to(torch.float64)
        dt = torch_dtype(dtype)
        with warnings.catch_warnings():  # "sparse CSR support is in beta": the product is all we use
            warnings.simplefilter("ignore", UserWarning)
            self._K = coo.to_sparse_csr().to(device=device, dtype=dt)
            self._KT = coo.t().coalesce().to_sparse_csr().to(device=device, dtype=dt)
        self.nnz = int(coo._nnz())

    @staticmethod
    def _product(M: Any, MT: Any, x: Any, n_in: int) -> Any:
        cols = x.reshape(-1, n_in).t().contiguous()
        return _csr_product().apply(cols, M, MT).t()

    def forward(self, x: Any) -> Any:
        """(..., n, n) images -> (..., A, D) sinograms."""
        g = self.geometry
        lead = x.shape[:-2]
        return self._product(self._K, self._KT, x, int(np.prod(g.image_shape))).reshape(*lead, *g.sino_shape)

    __call__ = forward

    def adjoint(self, y: Any) -> Any:
        """(..., A, D) sinograms -> (..., n, n) images (the exact transpose)."""
        g = self.geometry
        lead = y.shape[:-2]
        return self._product(self._KT, self._K, y, int(np.prod(g.sino_shape))).reshape(*lead, *g.image_shape)


@functools.lru_cache(maxsize=None)
def _csr_product() -> Any:
    import torch

    class CSRProduct(torch.autograd.Function):
        """M @ x for a CSR matrix M whose transpose MT is given (the derivative)."""

        @staticmethod
        def forward(ctx: Any, x: Any, M: Any, MT: Any) -> Any:
            ctx.MT = MT
            return M @ x

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            return ctx.MT @ grad.contiguous(), None, None

    return CSRProduct
