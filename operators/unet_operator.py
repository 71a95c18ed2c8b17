"""The shared 2D U-Net (:mod:`operators.unet`) used as an operator on the grid.

An adapter, not a second U-Net: channels-last input (b, nx, ny, c_in) as
the other learned operators take it, the grid coordinates (x, y) in [0, 1]
appended as two more channels (as the FNO does), then
``operators.unet.build_unet(c_in + 2, 1, width=base, depth=levels,
norm="group")`` (GroupNorm: a prediction does not depend on the other
samples of its batch; ``norm="none"`` drops it: GroupNorm divides out each
sample's amplitude, which an operator linear in its input must keep), output
(b, nx, ny).  A U-Net is tied to its training
resolution (its kernels have a fixed size in grid cells), unlike an FNO.

:class:`UNet1d` is the same design on 1D grids (b, n, c_in) -> (b, n):
two 3-point convolution (+ GroupNorm) + ReLU blocks per level, max pooling by
2, linear up-sampling + 1x1 convolution, skips by concatenation, the input
padded (replicate) to a multiple of 2^levels and cropped back.
"""
from __future__ import annotations

import torch
from torch import nn

from sciml.core import InvalidOption

__all__ = ["UNet1d", "UNet2d"]


class UNet2d(nn.Module):
    """(b, nx, ny, c_in) channels-last -> (b, nx, ny) through the shared U-Net."""

    def __init__(self, c_in: int, base: int = 32, levels: int = 3, norm: str = "group") -> None:
        super().__init__()
        if levels < 1 or base < 1 or norm not in ("group", "none"):
            raise InvalidOption(f"unet: levels={levels}, base={base}, norm={norm!r}; allowed: levels >= 1, "
                                "base >= 1, norm group or none")
        from operators.unet import build_unet
        self.net = build_unet(c_in + 2, 1, width=base, depth=levels, norm=norm)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        b, nx, ny, _ = a.shape
        g = [torch.linspace(0.0, 1.0, n, dtype=a.dtype, device=a.device) for n in (nx, ny)]
        grid = torch.stack(torch.meshgrid(*g, indexing="ij"), dim=-1).expand(b, nx, ny, 2)
        return self.net(torch.cat([a, grid], dim=-1).movedim(-1, 1))[:, 0]


def _block1d(cin: int, cout: int, norm: str) -> nn.Sequential:
    def nrm(c: int) -> nn.Module:
        return nn.GroupNorm(min(8, c), c) if norm == "group" else nn.Identity()
    bias = norm == "none"
    return nn.Sequential(nn.Conv1d(cin, cout, 3, padding=1, bias=bias), nrm(cout), nn.ReLU(inplace=True),
                         nn.Conv1d(cout, cout, 3, padding=1, bias=bias), nrm(cout), nn.ReLU(inplace=True))


class UNet1d(nn.Module):
    """(b, n, c_in) channels-last -> (b, n): the 1D U-Net described in the module docstring."""

    def __init__(self, c_in: int, base: int = 32, levels: int = 3, norm: str = "group",
                 max_width: int = 512) -> None:
        super().__init__()
        if levels < 1 or base < 1 or norm not in ("group", "none"):
            raise InvalidOption(f"unet: levels={levels}, base={base}, norm={norm!r}; allowed: levels >= 1, "
                                "base >= 1, norm group or none")
        self.levels = levels
        ch = [min(base * 2 ** k, max_width) for k in range(levels + 1)]
        self.down = nn.ModuleList([_block1d(c_in + 1, ch[0], norm)] + [_block1d(ch[k - 1], ch[k], norm)
                                                                       for k in range(1, levels + 1)])
        self.reduce = nn.ModuleList([nn.Conv1d(ch[k + 1], ch[k], 1) for k in range(levels)])
        self.up = nn.ModuleList([_block1d(2 * ch[k], ch[k], norm) for k in range(levels)])
        self.head = nn.Conv1d(ch[0], 1, 1)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        b, n, _ = a.shape
        grid = torch.linspace(0.0, 1.0, n, dtype=a.dtype, device=a.device).expand(b, n)[..., None]
        x = torch.cat([a, grid], dim=-1).movedim(-1, 1)
        pad = (-n) % (2 ** self.levels)
        if pad:
            x = nn.functional.pad(x, (0, pad), mode="replicate")
        skips = []
        for k, block in enumerate(self.down):
            x = block(x if k == 0 else nn.functional.max_pool1d(x, 2))
            skips.append(x)
        x = skips.pop()
        for k in reversed(range(self.levels)):
            x = nn.functional.interpolate(x, scale_factor=2, mode="linear", align_corners=False)
            x = self.up[k](torch.cat([skips.pop(), self.reduce[k](x)], dim=1))
        return self.head(x)[:, 0, :n]
