"""Coefficient recovery from noisy point measurements: FEM least squares and PINN."""
import numpy as np
import pytest

pytest.importorskip("dolfinx")

from problems.elliptic import Box, Disk, Elliptic  # noqa: E402
from sciml.core import DataError, InvalidOption, InvalidProblem  # noqa: E402
from sciml.references.fem import FEM  # noqa: E402
from sciml.references.fem_inverse import quadrant_indicators, recover_coefficient  # noqa: E402

SQ = Box([0, 0], [1, 1])
RNG = np.random.default_rng(0)
XO = 0.1 + 0.8 * RNG.random((50, 2))
DRAW = RNG.standard_normal(50)


def source(x, xp):
    return 2 * xp.pi ** 2 * xp.sin(xp.pi * x[0]) * xp.sin(xp.pi * x[1])


CONST = Elliptic(domain=SQ, source=source, dirichlet=0.0)
# -div(k grad u) = 2π² sin(πx) sin(πy), u = 0: u = sin(πx) sin(πy) / k; k = 2 (closed form, written here)
U_CONST = 0.5 * np.sin(np.pi * XO[:, 0]) * np.sin(np.pi * XO[:, 1])


def noisy(u, level):
    return u + level * np.abs(u).max() * DRAW


def test_fem_least_squares_recovers_a_constant_within_one_percent_at_one_percent_noise():
    r = recover_coefficient(CONST, XO, noisy(U_CONST, 0.01), degree=1, n=32)
    # measured 0.24 %: mostly the P1 discretisation bias (0.23 % without noise)
    assert abs(r["params"][0] - 2) / 2 < 1e-2
    assert r["success"] and r["fem_solves"] < 50


def test_fem_least_squares_recovers_four_quadrant_values():
    ktrue = [1.0, 2.0, 3.0, 4.0]
    truth = Elliptic(domain=SQ, source=1.0, dirichlet=0.0,
                     coefficient=lambda x, xp: sum(k * i for k, i in zip(ktrue, quadrant_indicators(SQ, x, xp))))
    u = FEM(degree=2, n=64).solve(truth)(XO)
    r = recover_coefficient(Elliptic(domain=SQ, source=1.0, dirichlet=0.0), XO, u, parametrisation="quadrants",
                            degree=1, n=32)
    # noise-free data from a finer P2 solve: only the P1 model error remains (measured 0.45 %)
    np.testing.assert_allclose(r["params"], ktrue, rtol=1e-2)


@pytest.mark.slow
def test_pinn_recovers_a_constant_within_one_percent_at_one_percent_noise():
    pytest.importorskip("deepxde")
    from sciml.solvers.pinn_inverse import recover_constant_pinn
    # seeds 0, 1, 2 measured 0.17 %, 0.21 %, 0.45 % (about 50 s each at load 5); 1 % is the target.
    # (500 Adam + 500 L-BFGS steps were not enough: 2.3 %; Adam moves log k by about lr per step.)
    r = recover_constant_pinn(CONST, XO, noisy(U_CONST, 0.01), adam_steps=200, lbfgs_steps=1000, n_domain=300)
    assert abs(r["params"][0] - 2) / 2 < 1e-2


def test_bad_inverse_input():
    with pytest.raises(InvalidOption, match="x_obs"):
        recover_coefficient(CONST, XO[:, :1], U_CONST)
    with pytest.raises(InvalidProblem, match="2D Box"):
        recover_coefficient(Elliptic(domain=Disk(), source=1.0, dirichlet=0.0), XO * 0.5, U_CONST,
                            parametrisation="quadrants")
    with pytest.raises(InvalidOption, match="parametrisation"):
        recover_coefficient(CONST, XO, U_CONST, parametrisation="field")


# ------------------------------------------- the problem/solver pair: sciml solve and studies
import json  # noqa: E402

from problems.elliptic_inverse import EllipticInverse  # noqa: E402
from sciml.cli import main  # noqa: E402
from sciml.evaluate import evaluate  # noqa: E402
from sciml.references.fem_inverse import FEMInverse  # noqa: E402


def test_cli_fem_inverse_recovers_k_within_one_percent_at_one_percent_noise(capsys):
    # generated data: u = sin(πx) sin(πy) / 2 (closed form) at 50 points plus 1 % noise; the answer k = 2
    assert main(["solve", "elliptic-inverse", "--solver", "fem-inverse", "-p", "noise=0.01", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # measured 0.24 %, mostly the P1 (n = 32) discretisation bias
    assert out["reference"] == "exact" and out["reference_value"] == 2.0
    assert out["errors"]["rel_error"] < 1e-2 and abs(out["value"] - 2) < 2e-2


def test_cli_reads_the_data_from_an_npz_file(tmp_path, capsys):
    f = tmp_path / "obs.npz"
    np.savez(f, x_obs=XO.T, u_obs=noisy(U_CONST, 0.01), k_true=[2.0])
    assert main(["solve", "elliptic-inverse", "--solver", "fem-inverse", "-p", f"data={f}", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # the same data as the Python-API test above: the same recovered k (0.24 % off)
    r = recover_coefficient(CONST, XO, noisy(U_CONST, 0.01), degree=1, n=32)
    assert abs(out["value"] - r["params"][0]) < 1e-9 and out["errors"]["rel_error"] < 1e-2


def test_quadrant_values_as_a_problem():
    # data from a P2 solve on 64² cells with k = (1, 2, 3, 4), no noise: only the P1 (n = 32) model error
    # remains (measured 0.45 % on the other 50 points above)
    p = EllipticInverse(forward=Elliptic(domain=SQ, source=1.0, dirichlet=0.0), parametrisation="quadrants")
    rec = evaluate(p, FEMInverse(), "exact")
    assert rec.errors["rel_error"] < 1e-2 and set(rec.errors) >= {"rel_k0", "rel_k3"}
    assert abs(rec.value - 2.5) < 2.5e-2          # the mean of k


def test_study_over_a_noise_grid(tmp_path):
    from sciml import study
    spec = tmp_path / "inverse.toml"
    spec.write_text("""seeds = [0]
metrics = ["rel_error"]
[[problem]]
name = "elliptic-inverse"
params = { noise = [0.0, 0.01, 0.05] }
[[solver]]
name = "fem-inverse"
options = { n = 32 }
""")
    res = study.run(spec, out=tmp_path / "out", report=False)
    assert len(res.done) == 3 and not res.failed
    errs = {}
    for c in res.done:
        txt = json.dumps(c)
        noise = [v for k, v in _flat(c) if k.endswith("noise")][0]
        errs[noise] = [v for k, v in _flat(c) if k.endswith("rel_error")][0]
        assert "fem-inverse" in txt
    # measured 0.23 %, 0.24 %, 0.26 %: the P1 bias, then the noise (one draw, scaled per level)
    assert errs[0.01] < 1e-2 and errs[0.0] < 1e-2 and errs[0.05] < 5e-2


def _flat(d, prefix=""):
    for k, v in (d.items() if isinstance(d, dict) else []):
        if isinstance(v, dict):
            yield from _flat(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def test_bad_inverse_problem_input(tmp_path, capsys):
    assert main(["solve", "elliptic-inverse", "--solver", "fem-inverse", "-p", f"data={tmp_path}/no.npz"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no.npz" in err[0]
    f = tmp_path / "bad.npz"
    np.savez(f, x_obs=XO.T)
    with pytest.raises(DataError, match="u_obs"):
        EllipticInverse(data=str(f))
    np.savez(f, x_obs=XO, u_obs=U_CONST)
    with pytest.raises(DataError, match="x_obs"):
        EllipticInverse(data=str(f))
    with pytest.raises(InvalidProblem, match="k_true"):
        EllipticInverse(parametrisation="quadrants", k_true=(1.0, 2.0))
    with pytest.raises(InvalidProblem, match="Dirichlet"):
        EllipticInverse(forward=Elliptic(domain=SQ, source=1.0, dirichlet={"left": 0.0}, neumann={"rest": 0.0}))
    with pytest.raises(InvalidOption, match="coefficient-recovery problem"):
        FEMInverse().solve(CONST)
    assert main(["solve", "elliptic-inverse", "--solver", "fem-inverse", "-o", "degree=3"]) == 2
    assert main(["solve", "elliptic-inverse", "--solver", "pinn-inverse", "-p", "parametrisation=quadrants"]) == 2
    assert "fem-inverse" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_pinn_inverse_recovers_k_within_one_percent_at_one_percent_noise(capsys):
    pytest.importorskip("deepxde")
    # the budget of the test above (200 Adam + 1000 L-BFGS steps, 300 points): 0.17-0.45 % on its data
    assert main(["solve", "elliptic-inverse", "--solver", "pinn-inverse", "-p", "noise=0.01",
                 "-o", "n_domain=300", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["errors"]["rel_error"] < 1e-2


def test_cli_on_a_users_forward_problem(monkeypatch, capsys):
    from pathlib import Path
    monkeypatch.chdir(Path(__file__).resolve().parents[1] / "data")
    assert main(["solve", "my_inverse.py:quadrants", "--solver", "fem-inverse", "-p", "noise=0.01", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # k = 1, 2, 3, 4 on the quadrants of [0, 2] x [0, 1], 80 points, 1 % noise: measured 0.39 %
    assert out["params"]["k_true"] == [1.0, 2.0, 3.0, 4.0] and out["errors"]["rel_error"] < 2e-2
