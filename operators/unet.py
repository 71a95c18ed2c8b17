"""A generic 2D U-Net (Ronneberger, Fischer, Brox 2015) as a torch module.

``UNetModule(in_channels, out_channels, width, depth)``: ``depth`` down-sampling
steps (2x2 max pooling), channels ``width * 2^level`` (capped by
``max_width``), two 3x3 convolution + normalisation + ReLU blocks per level,
bilinear up-sampling + 1x1 convolution on the way up, skip connections by
concatenation, a final 1x1 convolution.  Inputs of any size are padded
(replicate) to a multiple of ``2^depth`` and cropped back, so the module maps
(B, in_channels, H, W) -> (B, out_channels, H, W).  Used by the FBP+U-Net CT
solver (Jin et al. 2017, "FBPConvNet") and usable as a neural operator on
grids.  torch is imported when the module is built, not at import time.
"""
from __future__ import annotations

from typing import Literal

__all__ = ["UNetModule", "build_unet"]


def build_unet(in_channels: int = 1, out_channels: int = 1, width: int = 32, depth: int = 4,
               norm: Literal["batch", "group", "none"] = "batch", max_width: int = 512):
    """Construct a :class:`UNetModule` (torch imported here)."""
    return _classes()["UNetModule"](in_channels, out_channels, width, depth, norm, max_width)


def _classes():
    import torch
    from torch import nn
    import torch.nn.functional as F

    def _norm(kind: str, ch: int) -> nn.Module:
        if kind == "batch":
            return nn.BatchNorm2d(ch)
        if kind == "group":
            return nn.GroupNorm(min(8, ch), ch)
        return nn.Identity()

    class Block(nn.Sequential):
        def __init__(self, cin: int, cout: int, norm: str) -> None:
            bias = norm == "none"
            super().__init__(
                nn.Conv2d(cin, cout, 3, padding=1, bias=bias), _norm(norm, cout), nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, padding=1, bias=bias), _norm(norm, cout), nn.ReLU(inplace=True))

    class UNetModule(nn.Module):
        def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 32, depth: int = 4,
                     norm: str = "batch", max_width: int = 512) -> None:
            super().__init__()
            for key, val, lo in (("in_channels", in_channels, 1), ("out_channels", out_channels, 1),
                                 ("width", width, 1), ("depth", depth, 0)):
                if int(val) != val or val < lo:
                    raise ValueError(f"UNetModule: {key}={val!r} must be an integer >= {lo}")
            if norm not in ("batch", "group", "none"):
                raise ValueError(f"UNetModule: norm={norm!r}; choose batch, group or none")
            self.depth = depth
            ch = [min(width * 2 ** k, max_width) for k in range(depth + 1)]
            self.down = nn.ModuleList([Block(in_channels, ch[0], norm)] +
                                      [Block(ch[k - 1], ch[k], norm) for k in range(1, depth + 1)])
            self.reduce = nn.ModuleList([nn.Conv2d(ch[k + 1], ch[k], 1) for k in range(depth)])
            self.up = nn.ModuleList([Block(2 * ch[k], ch[k], norm) for k in range(depth)])
            self.head = nn.Conv2d(ch[0], out_channels, 1)

        def forward(self, x):
            h, w = x.shape[-2:]
            m = 2 ** self.depth
            ph, pw = (-h) % m, (-w) % m
            if ph or pw:
                x = F.pad(x, (0, pw, 0, ph), mode="replicate")
            skips = []
            for k, block in enumerate(self.down):
                x = block(x if k == 0 else F.max_pool2d(x, 2))
                skips.append(x)
            x = skips.pop()
            for k in reversed(range(self.depth)):
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
                x = self.up[k](torch.cat([skips.pop(), self.reduce[k](x)], dim=1))
            return self.head(x)[..., :h, :w]

    return {"UNetModule": UNetModule}


def __getattr__(name: str):
    # ``from operators.unet import UNetModule`` works; torch is imported only then
    if name == "UNetModule":
        return _classes()["UNetModule"]
    raise AttributeError(name)
