"""A 2D U-Net used as an operator on the grid (Ronneberger, Fischer, Brox, MICCAI 2015).

Encoder: ``levels`` stages of two 3x3 convolutions (GroupNorm-free, GELU)
then 2x2 max-pooling, doubling the channels from ``base``; decoder: 2x2
transposed convolutions, concatenation with the skip connection, two 3x3
convolutions.  Any grid size works: the input is zero-padded at the end of
each dimension to a multiple of 2^levels and the output cropped back.  A
U-Net is tied to its training resolution (its kernels have a fixed size in
grid cells), unlike an FNO.

Written for the Darcy operator-learning issue because no shared
``operators/unet.py`` existed when it was needed.
"""
from __future__ import annotations

import torch
from torch import nn

from sciml.core import InvalidOption

__all__ = ["UNet2d"]


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.GELU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.GELU())


class UNet2d(nn.Module):
    """(b, nx, ny, c_in) channels-last -> (b, nx, ny)."""

    def __init__(self, c_in: int, base: int = 32, levels: int = 3) -> None:
        super().__init__()
        if levels < 1 or base < 1:
            raise InvalidOption(f"unet: levels={levels}, base={base}; allowed: levels >= 1, base >= 1")
        self.levels = levels
        ch = [base * 2 ** k for k in range(levels + 1)]
        self.down = nn.ModuleList([_block(c_in + 2 if k == 0 else ch[k - 1], ch[k]) for k in range(levels)])
        self.bottom = _block(ch[levels - 1], ch[levels])
        self.up = nn.ModuleList([nn.ConvTranspose2d(ch[k + 1], ch[k], 2, stride=2) for k in reversed(range(levels))])
        self.dec = nn.ModuleList([_block(2 * ch[k], ch[k]) for k in reversed(range(levels))])
        self.out = nn.Conv2d(ch[0], 1, 1)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        b, nx, ny, _ = a.shape
        g = [torch.linspace(0.0, 1.0, n, dtype=a.dtype, device=a.device) for n in (nx, ny)]
        grid = torch.stack(torch.meshgrid(*g, indexing="ij"), dim=-1).expand(b, nx, ny, 2)
        v = torch.cat([a, grid], dim=-1).movedim(-1, 1)
        m = 2 ** self.levels
        v = nn.functional.pad(v, [0, (-ny) % m, 0, (-nx) % m])
        skips = []
        for blk in self.down:
            v = blk(v)
            skips.append(v)
            v = nn.functional.max_pool2d(v, 2)
        v = self.bottom(v)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            v = dec(torch.cat([up(v), skip], dim=1))
        return self.out(v)[:, 0, :nx, :ny]
