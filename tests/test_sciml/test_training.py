"""sciml.training: the one training loop (Adam against a hand-written Adam, schedules,
L-BFGS against the normal equations, divergence, early stop), the solve template
for every torch solver, and the precision/compile options."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sciml import registry  # noqa: E402
from sciml.cli import main  # noqa: E402
from sciml.core import InvalidOption, SolverDiverged  # noqa: E402
from sciml.training import AcceleratorOptions, autocast_dtype, compiled, train  # noqa: E402

TORCH_SOLVERS = ("deep-kolmogorov", "deep-bsde", "deep-splitting", "neural-closure", "neural-collision",
                 "fno", "deeponet", "unet", "fbp-unet", "pinn")


def _adam_by_hand(c, lrs, steps, b1=0.9, b2=0.999, eps=1e-8):
    """Losses of Adam on 0.5 |p - c|^2 from p = 0 (Kingma and Ba, Algorithm 1)."""
    p, m, v, losses = np.zeros_like(c), np.zeros_like(c), np.zeros_like(c), []
    for t in range(1, steps + 1):
        losses.append(0.5 * float(np.sum((p - c) ** 2)))
        g = p - c
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lrs[t - 1] * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return losses, p


def test_adam_steps_and_history_match_the_algorithm():
    c = np.array([1.0, -2.0, 0.5])
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    ct = torch.as_tensor(c)
    rec = train([p], lambda k: 0.5 * ((p - ct) ** 2).sum(), steps=25, lr=0.1, solver="t")
    losses, p_end = _adam_by_hand(c, [0.1] * 25, 25)
    # float64, 25 steps of the same formulas: agreement to rounding
    np.testing.assert_allclose(rec.loss_history, losses, rtol=1e-12)
    np.testing.assert_allclose(p.detach().numpy(), p_end, rtol=1e-12)
    assert rec.steps == 25 and rec.parameters == 3 and not rec.stopped
    assert rec.stats()["final_loss"] == rec.loss_history[-1]


def test_lr_at_and_epoch_schedules_set_the_learning_rate():
    c = np.array([3.0])
    lrs = [0.2 * 0.5 ** (k // 4) for k in range(12)]   # halved every 4 steps
    ct = torch.as_tensor(c)
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    a = train([p], lambda k: 0.5 * ((p - ct) ** 2).sum(), steps=12, lr=0.2, solver="t", lr_at=lambda k: lrs[k])
    q = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    b = train([q], lambda k: 0.5 * ((q - ct) ** 2).sum(), steps=12, lr=0.2, solver="t", schedule_every=4,
              schedule=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5))
    losses, _ = _adam_by_hand(c, lrs, 12)
    np.testing.assert_allclose(a.loss_history, losses, rtol=1e-12)
    np.testing.assert_allclose(b.loss_history, losses, rtol=1e-12)


def test_lbfgs_reaches_the_least_squares_solution():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(8, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(8, generator=gen, dtype=torch.float64)
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    rec = train([x], lambda k: ((A @ x - y) ** 2).sum(), steps=1, lr=1.0, solver="t", optimizer="lbfgs",
                optimizer_options=dict(max_iter=50, tolerance_grad=1e-14, tolerance_change=1e-16,
                                       line_search_fn="strong_wolfe"))
    exact = np.linalg.lstsq(A.numpy(), y.numpy(), rcond=None)[0]
    # a 3-parameter quadratic: L-BFGS converges in a few iterations, then stops once the loss
    # no longer changes; in float64 the loss is flat to rounding (1e-16 relative) within about
    # sqrt(1e-16) = 1e-8 of the minimiser, hence 1e-7
    np.testing.assert_allclose(x.detach().numpy(), exact, rtol=1e-7, atol=1e-9)
    assert len(rec.loss_history) > 1 and rec.loss_history[-1] <= rec.loss_history[0]


def test_divergence_names_the_step_and_loss():
    def run(**kw):
        p = torch.ones(1, requires_grad=True)
        train([p], lambda k: (p ** 2).sum() * (float("nan") if k == 3 else 1.0), steps=10, lr=1e-3,
              solver="t", **kw)
    with pytest.raises(SolverDiverged, match="t: loss became nan at step 3") as info:
        run()
    assert info.value.step == 3 and math.isnan(info.value.loss)
    with pytest.raises(SolverDiverged, match="at step 4"):
        run(step_base=1)
    with pytest.raises(SolverDiverged, match="loss became 2.0 at step 0"):
        p = torch.ones(2, requires_grad=True)
        train([p], lambda k: (p ** 2).sum(), steps=5, lr=1e-3, solver="t", loss_limit=1.0)


def test_after_step_stops_early():
    p = torch.ones(1, requires_grad=True)
    rec = train([p], lambda k: (p ** 2).sum(), steps=10, lr=1e-3, solver="t", after_step=lambda k, v: k == 2)
    assert rec.stopped and rec.steps == 3 and len(rec.loss_history) == 3


def test_every_torch_solver_uses_the_template():
    for name in TORCH_SOLVERS:
        cls = registry.solver_class(name)
        assert "solve" not in vars(cls) and "_solve" in {k for c in cls.__mro__ for k in vars(c)}, name


def test_mixed_precision_needs_cuda():
    assert autocast_dtype("fp32", torch.device("cpu"), solver="s") is None
    with pytest.raises(InvalidOption, match="precision='fp16': mixed precision needs CUDA"):
        autocast_dtype("fp16", torch.device("cpu"), solver="s")
    assert {"precision", "compile"} <= set(AcceleratorOptions.__dataclass_fields__)
    with pytest.raises(InvalidOption, match="precision"):
        registry.make_solver("fno", precision="fp8")


def test_mixed_precision_on_cpu_is_one_line_exit_2(capsys):
    rc = main(["solve", "darcy", "--solver", "fno", "-p", "res=16", "-p", "n_train=8", "-p", "n_test=2",
               "-o", "epochs=1", "-o", "precision=bf16", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "mixed precision needs CUDA" in err and "bf16" in err


def test_compile_off_is_the_module_itself():
    net = torch.nn.Linear(2, 1)
    assert compiled(net, False, solver="s") is net


@pytest.mark.slow
def test_compile_on_cpu_gives_the_same_outputs():
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    fast = compiled(net, True, solver="s")
    x = torch.randn(5, 3, dtype=torch.float64)
    # the same float64 operations, fused: agreement to rounding
    np.testing.assert_allclose(fast(x).detach().numpy(), net(x).detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.slow
def test_compile_option_trains_to_the_same_numbers(tmp_path):
    from problems.operator_data import OperatorData
    from sciml.solvers.operator_learning import DeepONet
    a = np.random.default_rng(0).standard_normal((48, 16))
    np.savez(tmp_path / "pairs.npz", a=a, u=np.cumsum(a, axis=1) / 16)
    p = OperatorData(data=str(tmp_path / "pairs.npz"), n_train=40, n_test=8)
    opts = dict(epochs=2, batch=8, width=8, p=4, sensor_stride=2, dtype="float64")
    plain = DeepONet(**opts).solve(p, seed=0)
    fast = DeepONet(**opts, compile=True).solve(p, seed=0)
    # the same float64 arithmetic, fused by the compiler: rounding only
    np.testing.assert_allclose(fast.stats["loss_history"], plain.stats["loss_history"], rtol=1e-10)
    np.testing.assert_allclose(fast.state["u_pred"], plain.state["u_pred"], rtol=1e-8, atol=1e-12)
