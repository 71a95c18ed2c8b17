"""A trained operator network with its normalisation and configuration:
:class:`OperatorModel` (predict, save), :func:`build_network` (the torch
module of a solver kind) and :func:`load_operator` (a checkpoint back to a
model).  The solvers that train these are in
:mod:`sciml.solvers.operator_learning`."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import DataError, InvalidOption
from ..io import schema as _schema

__all__ = ["OperatorModel", "build_network", "load_operator", "CONFIG_SCHEMA"]

CONFIG_SCHEMA = _schema("operator")


# ------------------------------------------------------------- the model
class OperatorModel:
    """A trained network with its normalisation: ``predict(a) -> u`` on (N, S, S) arrays."""

    def __init__(self, kind: str, arch: dict[str, Any], res: int, net: Any, norm: dict[str, np.ndarray],
                 dtype: str = "float32", device: str = "cpu", dim: int = 2) -> None:
        self.kind, self.arch, self.res, self.net, self.norm = kind, dict(arch), int(res), net, norm
        self.dtype, self.device, self.dim = dtype, device, int(dim)

    # -- normalisation (torch tensors in, torch tensors out)
    def _u_stats(self, res: int) -> tuple[Any, Any]:
        import torch
        from ..torch_utils import torch_dtype
        dt = torch_dtype(self.dtype)
        mean = torch.as_tensor(self.norm["u_mean"], dtype=dt, device=self.device)
        std = torch.as_tensor(self.norm["u_std"], dtype=dt, device=self.device)
        if res != self.res:  # (bi)linear on x_i = i/(S-1): align_corners matches that grid
            both = torch.stack([mean, std])[None]
            size, mode = ((res,), "linear") if self.dim == 1 else ((res, res), "bilinear")
            both = torch.nn.functional.interpolate(both, size=size, mode=mode, align_corners=True)[0]
            mean, std = both[0], both[1]
        return mean, std

    def forward(self, a: Any, net: Any = None) -> Any:
        """a: torch (b, S) or (b, S, S) raw inputs -> u of the same shape, differentiable.
        ``net``: the module to run instead of ``self.net`` (the same network wrapped
        for training: DistributedDataParallel, torch.compile)."""
        net = self.net if net is None else net
        x = (a - float(self.norm["a_mean"])) / float(self.norm["a_std"])
        z = net(x) if self.kind == "deeponet" else net(x[..., None])
        mean, std = self._u_stats(a.shape[-1])
        return z * std + mean

    def check_resolution(self, res: int) -> None:
        if res == self.res:
            return
        if self.kind != "fno":
            raise InvalidOption(f"{self.kind}: trained at res {self.res}, cannot evaluate at res {res} "
                                "(only fno is resolution independent)")
        from operators.fno import check_modes
        check_modes(int(self.arch["modes"]), res, int(self.arch["padding"]))

    def predict(self, a: np.ndarray, batch: int = 20) -> np.ndarray:
        """u for inputs a (N, S) in 1D or (N, S, S) in 2D (numpy in, float64 numpy out)."""
        import torch
        from ..torch_utils import torch_dtype
        a = np.asarray(a)
        if a.ndim != self.dim + 1 or (self.dim == 2 and a.shape[1] != a.shape[2]):
            want = "(N, S)" if self.dim == 1 else "(N, S, S)"
            raise InvalidOption(f"{self.kind}: expected inputs of shape {want}, got {a.shape}")
        self.check_resolution(a.shape[-1])
        dt = torch_dtype(self.dtype)
        self.net.eval()
        out = []
        with torch.inference_mode():
            for lo in range(0, len(a), batch):
                t = torch.as_tensor(a[lo:lo + batch], dtype=dt, device=self.device)
                out.append(self.forward(t).double().cpu().numpy())
        return np.concatenate(out)

    def save(self, path: str) -> None:
        from ..io import save_checkpoint
        config = {"schema": CONFIG_SCHEMA, "kind": self.kind, "arch": self.arch, "res": self.res,
                  "dtype": self.dtype, "dim": self.dim}
        arrays = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        arrays.update({f"norm.{k}": np.asarray(v) for k, v in self.norm.items()})
        save_checkpoint(path, config, arrays)


def build_network(kind: str, arch: dict[str, Any], res: int, dim: int = 2) -> Any:
    """The torch module of a solver kind with architecture options ``arch`` on a ``dim``-D grid."""
    if kind == "fno":
        from operators.fno import FNO1d, FNO2d
        cls = FNO1d if dim == 1 else FNO2d
        return cls(1, int(arch["modes"]), int(arch["width"]), int(arch["layers"]), int(arch["padding"]))
    if kind == "deeponet":
        from operators.deeponet import DeepONetModule as Net
        return Net(res, int(arch["sensor_stride"]), int(arch["width"]), int(arch["depth"]), int(arch["p"]),
                   dim=dim)
    if kind == "unet":
        return _unet_class(dim)(1, base=int(arch["base"]), levels=int(arch["levels"]),
                                norm=str(arch.get("norm", "group")))  # older checkpoints: group
    raise InvalidOption(f"unknown operator kind {kind!r}")


def _unet_class(dim: int = 2) -> Any:
    from operators.unet_operator import UNet1d, UNet2d
    return UNet1d if dim == 1 else UNet2d


def load_operator(path: str, device: str = "cpu") -> OperatorModel:
    """Rebuild a trained operator from a checkpoint written with ``checkpoint=PATH``."""
    import torch
    from ..io import load_checkpoint
    from ..torch_utils import torch_device, torch_dtype
    config, arrays = load_checkpoint(path)
    if config.get("schema") != CONFIG_SCHEMA:
        raise DataError(f"checkpoint {path} is not an operator checkpoint (schema {config.get('schema')!r})")
    try:
        kind, arch, res, dtype = config["kind"], config["arch"], int(config["res"]), config["dtype"]
        dim = int(config.get("dim", 2))  # checkpoints written before 1D support are 2D
        net = build_network(kind, arch, res, dim).to(device=torch_device(device), dtype=torch_dtype(dtype))
        state = {k[4:]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith("net.")}
        net.load_state_dict(state, strict=True)
        norm = {k[5:]: v for k, v in arrays.items() if k.startswith("norm.")}
    except (KeyError, RuntimeError) as exc:
        raise DataError(f"checkpoint {path} is corrupt or does not match its configuration: {exc}") from None
    return OperatorModel(kind, arch, res, net, norm, dtype=dtype, device=device, dim=dim)
