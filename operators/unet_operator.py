"""The shared 2D U-Net (:mod:`operators.unet`) used as an operator on the grid.

An adapter, not a second U-Net: channels-last input (b, nx, ny, c_in) as
the other learned operators take it, the grid coordinates (x, y) in [0, 1]
appended as two more channels (as the FNO does), then
``operators.unet.build_unet(c_in + 2, 1, width=base, depth=levels,
norm="group")`` (GroupNorm: a prediction does not depend on the other
samples of its batch), output (b, nx, ny).  A U-Net is tied to its training
resolution (its kernels have a fixed size in grid cells), unlike an FNO.
"""
from __future__ import annotations

import torch
from torch import nn

from sciml.core import InvalidOption

__all__ = ["UNet2d"]


class UNet2d(nn.Module):
    """(b, nx, ny, c_in) channels-last -> (b, nx, ny) through the shared U-Net."""

    def __init__(self, c_in: int, base: int = 32, levels: int = 3) -> None:
        super().__init__()
        if levels < 1 or base < 1:
            raise InvalidOption(f"unet: levels={levels}, base={base}; allowed: levels >= 1, base >= 1")
        from operators.unet import build_unet
        self.net = build_unet(c_in + 2, 1, width=base, depth=levels, norm="group")

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        b, nx, ny, _ = a.shape
        g = [torch.linspace(0.0, 1.0, n, dtype=a.dtype, device=a.device) for n in (nx, ny)]
        grid = torch.stack(torch.meshgrid(*g, indexing="ij"), dim=-1).expand(b, nx, ny, 2)
        return self.net(torch.cat([a, grid], dim=-1).movedim(-1, 1))[:, 0]
