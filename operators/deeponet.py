"""DeepONet (Lu, Jin, Pang, Zhang, Karniadakis, Nat. Mach. Intell. 3, 2021).

G(a)(y) ≈ Σ_k b_k(a) t_k(y) + b_0: the branch net sees the input function
at fixed sensor points (here: the grid values of a, subsampled by
``sensor_stride`` in each direction), the trunk net sees the query
coordinates y ∈ [0, 1]^dim (dim = 1 or 2).  Both are MLPs with ``depth`` hidden layers of
``width`` units (tanh in the trunk, GELU in the branch) ending in ``p``
features.  Evaluation on a grid of any resolution is one matrix product.
"""
from __future__ import annotations

import torch
from torch import nn

from sciml.core import InvalidOption

__all__ = ["DeepONetModule", "mlp"]


def mlp(sizes: list[int], act: type[nn.Module]) -> nn.Sequential:
    """A fully connected network with layer widths ``sizes`` and activation ``act`` between layers."""
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class DeepONetModule(nn.Module):
    """Unstacked DeepONet with a bias; input (b, S, S) grid values of a, output (b, S, S)
    (``dim=1``: (b, S) -> (b, S))."""

    def __init__(self, res: int, sensor_stride: int = 4, width: int = 128, depth: int = 3, p: int = 128,
                 dim: int = 2) -> None:
        super().__init__()
        if sensor_stride < 1 or sensor_stride >= res:
            raise InvalidOption(f"deeponet: sensor_stride={sensor_stride} is out of range; allowed: [1, {res - 1}]")
        if dim not in (1, 2):
            raise InvalidOption(f"deeponet: dim={dim} is not allowed; choose 1 or 2")
        self.res, self.stride, self.dim = res, sensor_stride, dim
        n_sensors = len(range(0, res, sensor_stride)) ** dim
        self.branch = mlp([n_sensors] + [width] * depth + [p], nn.GELU)
        self.trunk = mlp([dim] + [width] * depth + [p], nn.Tanh)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, a: torch.Tensor, res: int | None = None) -> torch.Tensor:
        """a: (b, res_a, res_a) at the training resolution; output on a res x res grid (default: res_a)."""
        if self.dim == 1:
            return self._forward_1d(a, res)
        if a.shape[-1] != self.res or a.shape[-2] != self.res:
            raise InvalidOption(f"deeponet: its sensors sit on the {self.res} x {self.res} training grid; "
                                f"got input of shape {tuple(a.shape[-2:])}")
        res = res or self.res
        b = self.branch(a[:, :: self.stride, :: self.stride].reshape(a.shape[0], -1))  # (b, p)
        g = torch.linspace(0.0, 1.0, res, dtype=a.dtype, device=a.device)
        y = torch.stack(torch.meshgrid(g, g, indexing="ij"), dim=-1).reshape(-1, 2)
        t = self.trunk(y)  # (res², p)
        return (b @ t.T + self.bias).reshape(a.shape[0], res, res)

    def _forward_1d(self, a: torch.Tensor, res: int | None) -> torch.Tensor:
        if a.shape[-1] != self.res:
            raise InvalidOption(f"deeponet: its sensors sit on the {self.res}-point training grid; "
                                f"got input of length {a.shape[-1]}")
        res = res or self.res
        b = self.branch(a[:, :: self.stride])  # (b, p)
        t = self.trunk(torch.linspace(0.0, 1.0, res, dtype=a.dtype, device=a.device)[:, None])  # (res, p)
        return b @ t.T + self.bias
