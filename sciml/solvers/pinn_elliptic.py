"""DeepXDE model for :class:`problems.elliptic.Elliptic` (used by the PINN solver).

The residual is -div(A grad u) + c u - f with derivatives by automatic
differentiation; Neumann and Robin parts are residuals (A grad u) . n - g
(+ alpha u) at boundary points with DeepXDE's normals; Dirichlet parts are
soft (a misfit term) or, with ``hard_dirichlet``, built into the network:
u = g(x) + phi(x) N(x) with phi the domain's approximate distance function
(zero on the boundary, positive inside) and g the user's Dirichlet function,
which is defined on the whole domain and so is its own extension.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import InvalidOption

__all__ = ["geometry", "build_elliptic", "build_parabolic"]


def geometry(dde: Any, domain: Any) -> Any:
    """The DeepXDE geometry of a domain (a mesh file: points sampled from its cells, pinn_mesh.py)."""
    from problems.domains import Box, Disk, MeshFile, Polygon
    if isinstance(domain, Box):
        if domain.d == 1:
            return dde.geometry.Interval(domain.lo[0], domain.hi[0])
        if domain.d == 2:
            return dde.geometry.Rectangle(list(domain.lo), list(domain.hi))
        return dde.geometry.Cuboid(list(domain.lo), list(domain.hi))
    if isinstance(domain, Disk):
        return dde.geometry.Disk(list(domain.center), domain.radius)
    if isinstance(domain, Polygon):
        return dde.geometry.Polygon([list(v) for v in domain.vertices])
    if isinstance(domain, MeshFile):
        from .pinn_mesh import mesh_geometry
        return mesh_geometry(dde, domain)
    raise InvalidOption(f"pinn: domain {type(domain).__name__} is not supported; use Interval, Box, Disk, Polygon "
                        "or MeshFile")


def _torch_values(fn: Any, x: Any, torch: Any, d: int | None = None) -> Any:
    """fn at torch points x (N, d) as a column (N, 1) (only the first d columns are passed)."""
    v = fn(x[:, :d].T if d is not None else x.T, torch)
    if not torch.is_tensor(v):
        v = torch.full((x.shape[0],), float(v), dtype=x.dtype, device=x.device)
    return v.reshape(-1, 1) if v.ndim else v.expand(x.shape[0]).reshape(-1, 1)


def _divergence(flux: Any, x: Any, d: int, torch: Any) -> Any:
    """div_x of ``flux`` (N, d) as a column (N, 1), by automatic differentiation in x."""
    div = 0.0
    for k in range(d):
        div = div + torch.autograd.grad(flux[:, k], x, grad_outputs=torch.ones_like(flux[:, k]),
                                        create_graph=True)[0][:, k:k + 1]
    return div


def _flux(problem: Any, x: Any, u: Any, torch: Any) -> tuple[Any, Any]:
    """(grad u (N, d + 1 if x carries time), A grad_x u (N, d)) at inputs x (N, d) or (N, d + 1)."""
    d = problem.d
    grad = torch.autograd.grad(u, x, grad_outputs=torch.ones_like(u), create_graph=True)[0]
    A = problem.coefficient
    val = A(x[:, :d].T, torch) if callable(A) else A
    if isinstance(val, (list, tuple, np.ndarray)) or (torch.is_tensor(val) and val.ndim >= 2):
        cols = []
        for i in range(d):
            s = 0.0
            for j in range(d):
                a_ij = val[i][j]
                a_ij = a_ij if torch.is_tensor(a_ij) else float(a_ij)
                s = s + a_ij * grad[:, j]
            cols.append(s)
        return grad, torch.stack(cols, dim=1)
    a = val if torch.is_tensor(val) else float(val)
    if torch.is_tensor(a):
        a = a.reshape(-1, 1)
    return grad, a * grad[:, :d]


def build_elliptic(pinn: Any, problem: Any, dde: Any) -> Any:
    """The DeepXDE Model (data + network) for an Elliptic problem; not compiled."""
    import torch
    d = problem.d
    _refuse_subdomains(problem)
    _refuse_hard_on_mesh(pinn, problem)
    geom = geometry(dde, problem.domain)

    def pde(x: Any, u: Any) -> Any:
        _, flux = _flux(problem, x, u, torch)
        res = -_divergence(flux, x, d, torch) - _torch_values(as_fn(problem.source), x, torch)
        if callable(problem.reaction) or problem.reaction != 0:
            res = res + _torch_values(as_fn(problem.reaction), x, torch) * u
        return res

    bcs = _conditions(pinn, problem, problem, geom, dde, torch)
    dirichlet = problem.conditions_of("dirichlet")
    hard = pinn.hard_dirichlet
    n_boundary = 0 if hard and not bcs else pinn.n_boundary
    data = dde.data.PDE(geom, pde, bcs, num_domain=pinn.n_domain, num_boundary=n_boundary,
                        train_distribution=pinn.sampler)
    net = dde.nn.FNN([d] + [pinn.width] * pinn.depth + [1], pinn.activation, "Glorot normal")
    if hard:
        g, phi = dirichlet[0].g, problem.domain.distance
        net.apply_output_transform(lambda x, y: _torch_values(g, x, torch) + phi(x.T, torch).reshape(-1, 1) * y)
    return dde.Model(data, net)


def _conditions(pinn: Any, problem: Any, spatial: Any, geom: Any, dde: Any, torch: Any) -> list[Any]:
    """DeepXDE boundary conditions of the spatial problem (Dirichlet ones omitted when hard)."""
    from problems.elliptic_problem import ALL, REST
    d = spatial.d
    parts = spatial.parts()
    conditions = spatial.conditions()
    named = [_member(spatial, geom, bc.part, parts[bc.part]) for bc in conditions if bc.part not in (REST, ALL)]

    def on_part(name: str) -> Any:
        if name == ALL:
            return lambda x, on_b: on_b
        if name == REST:
            return lambda x, on_b: on_b and not any(p(x) for p in named)
        pred = _member(spatial, geom, name, parts[name])
        return lambda x, on_b: on_b and pred(x)

    dirichlet = spatial.conditions_of("dirichlet")
    hard = pinn.hard_dirichlet
    if hard and not (len(dirichlet) == 1 and dirichlet[0].part == ALL):
        raise InvalidOption("pinn: hard_dirichlet=true needs a Dirichlet condition on the whole boundary "
                            "(dirichlet=<number or function>): it uses the domain's distance function")
    bcs = []
    for bc in conditions:
        if bc.kind == "dirichlet":
            if hard:
                continue
            bcs.append(dde.icbc.DirichletBC(
                geom, (lambda g: lambda X: np.array(np.broadcast_to(  # a writable copy: torch warns on views
                    np.asarray(g(X[:, :d].T, np), dtype=float), X.shape[:1])[:, None]))(bc.g), on_part(bc.part)))
        else:
            def residual(inputs: Any, outputs: Any, X: np.ndarray, bc: Any = bc) -> Any:
                _, flux = _flux(problem, inputs, outputs, torch)
                n = torch.as_tensor(geom.boundary_normal(X), dtype=inputs.dtype, device=inputs.device)
                r = torch.sum(flux * n[:, :d], dim=1, keepdim=True) - _torch_values(bc.g, inputs, torch, d)
                if bc.kind == "robin":
                    r = r + _torch_values(bc.alpha, inputs, torch, d) * outputs
                return r
            bcs.append(dde.icbc.OperatorBC(geom, residual, on_part(bc.part)))

    return bcs


def _refuse_subdomains(problem: Any) -> None:
    """Fields per subdomain (a coefficient that jumps across an interface): the strong-form
    residual cannot see the flux condition there, so the PINN refuses them (exit 2)."""
    keys = getattr(problem, "subdomain_fields", ())
    if keys:
        raise InvalidOption(f"pinn: {keys[0]} is given per subdomain; the PINN's strong-form residual "
                            "cannot see the flux continuity across a jump of the coefficient, so it does not "
                            "take such problems; use --solver fem")


def _refuse_hard_on_mesh(pinn: Any, problem: Any) -> None:
    from problems.domains import MeshFile
    if pinn.hard_dirichlet and isinstance(problem.domain, MeshFile):
        raise InvalidOption("pinn: hard_dirichlet=true needs the domain's distance function, which a MeshFile "
                            "does not have; use soft constraints (hard_dirichlet=false)")


def _member(spatial: Any, geom: Any, name: str, part: Any) -> Any:
    """Membership test x -> bool of one boundary part (a predicate, or a mesh tag)."""
    if callable(part):
        return lambda x: bool(part(x, np))
    space = getattr(geom, "geometry", geom)  # a GeometryXTime's spatial geometry
    if not hasattr(space, "facet_tag"):
        raise InvalidOption(f"pinn: boundary part {name!r} is a mesh tag ({part!r}) but the domain is not a mesh")
    names = spatial.domain.physical_names
    tag = names[part][1] if isinstance(part, str) and part in names else part
    if not isinstance(tag, (int, np.integer)) or not np.any(space.mesh.facet_tags == tag):
        from ..core import InvalidProblem
        raise InvalidProblem(f"elliptic: boundary part {name!r}: tag {part!r} marks no boundary facet of "
                             f"{spatial.domain.path}")
    d = spatial.d
    return lambda x: space.facet_tag(x[:d]) == tag


def as_fn(value: Any) -> Any:
    from problems.elliptic_problem import as_function
    return as_function(value)


def build_parabolic(pinn: Any, problem: Any, dde: Any) -> Any:
    """The DeepXDE Model for a Parabolic problem on (space) x (0, T]: inputs (x, t).

    Residual u_t - div(A grad_x u) + r(u) - f; the initial condition is a misfit
    term, or with ``hard_dirichlet`` (a Dirichlet condition g on the whole
    boundary with u0 = g there) built in: u = u0(x) + t phi(x) N(x, t), the
    construction of DeepXDE's Allen-Cahn example."""
    import torch
    spatial = problem.spatial()
    d = problem.d
    _refuse_hard_on_mesh(pinn, problem)
    geom = geometry(dde, problem.domain)
    geomtime = dde.geometry.GeometryXTime(geom, dde.geometry.TimeDomain(0.0, problem.T))
    r, f, u0 = problem.reaction_fn(), as_fn(problem.source), problem.initial_fn()

    def pde(X: Any, u: Any) -> Any:
        grad, flux = _flux(problem, X, u, torch)
        return grad[:, d:d + 1] - _divergence(flux, X, d, torch) + r(u, torch) - _torch_values(f, X, torch, d)

    bcs = _conditions(pinn, problem, spatial, geomtime, dde, torch)
    hard = pinn.hard_dirichlet
    if hard:
        g = spatial.conditions_of("dirichlet")[0].g
        xb = geom.uniform_boundary_points(64).T
        mismatch = np.max(np.abs(np.asarray(u0(xb, np), dtype=float) - np.asarray(g(xb, np), dtype=float)))
        if mismatch > 1e-8:
            raise InvalidOption(f"pinn: hard_dirichlet=true needs initial = dirichlet on the boundary (they differ "
                                f"by {mismatch:.3g}); use soft constraints")
    else:
        bcs.append(dde.icbc.IC(geomtime, lambda X: np.array(np.broadcast_to(
            np.asarray(u0(X[:, :d].T, np), dtype=float), X.shape[:1])[:, None]), lambda _x, on_initial: on_initial))
    n_b = 0 if hard and not bcs else pinn.n_boundary
    data = dde.data.TimePDE(geomtime, pde, bcs, num_domain=pinn.n_domain, num_boundary=n_b,
                            num_initial=0 if hard else pinn.n_boundary, train_distribution=pinn.sampler)
    net = dde.nn.FNN([d + 1] + [pinn.width] * pinn.depth + [1], pinn.activation, "Glorot normal")
    if hard:
        phi = problem.domain.distance
        net.apply_output_transform(lambda X, y: _torch_values(u0, X, torch, d)
                                   + X[:, d:d + 1] * phi(X[:, :d].T, torch).reshape(-1, 1) * y)
    return dde.Model(data, net)
