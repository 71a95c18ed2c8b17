"""DOLFINx cross-check of the semilinear references in low dimension (issue 4)."""
import numpy as np
import pytest

pytest.importorskip("dolfinx")

from problems.semilinear import AllenCahn  # noqa: E402
from sciml.references.fem import solve_backward_semilinear  # noqa: E402


@pytest.mark.parametrize("d", [1, 2])
def test_linear_heat_matches_closed_form(d):
    """f = 0, g = exp(-|x|^2): u(0, 0) = (1 + 4T)^(-d/2). P1 and Crank-Nicolson are O(h^2 + dt^2);
    with h = 0.05 (d = 1) or 0.0625 (d = 2) and dt = 0.01 the error is ~1e-4 relative; 2e-3 bounds it."""
    g = lambda x: np.exp(-np.sum(x * x, axis=1))  # noqa: E731
    n = 400 if d == 1 else 320
    v = solve_backward_semilinear(d, 1.0, g, lambda u, dt: u, n=n, steps=100, L=10.0)
    assert v == pytest.approx(5.0 ** (-d / 2), rel=2e-3)


def test_allen_cahn_d1_fem_radial_and_mlp_agree():
    """Issue 4: FEM, radial and MLP agree on allen-cahn d = 1, T = 1 to 1e-3 relative.

    MLP: level 7 (M = 7), 8 independent runs; one run's relative spread is
    about 8.5e-4 (measured), so the mean's standard error is about 3e-4 and
    the 1e-3 target is more than 3 standard errors; the Picard truncation bias
    at level 6 was below 1e-4 (docs/semilinear.md)."""
    from sciml.references.multilevel_picard import MultilevelPicard
    from sciml.references.radial import Radial
    p = AllenCahn(d=1, T=1.0)
    fem = solve_backward_semilinear(1, p.T, p.g, p.flow, n=800, steps=200, L=10.0)
    radial = Radial().solve(p).value
    mlp = MultilevelPicard(level=7, repeats=8).solve(p, seed=0)
    assert mlp.stats["stderr"] / radial < 5e-4          # the statistical claim above holds
    for a, b in ((fem, radial), (mlp.value, radial), (mlp.value, fem)):
        assert abs(a - b) / abs(radial) < 1e-3
