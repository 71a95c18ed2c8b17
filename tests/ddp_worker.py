"""Run by tests/test_sciml/test_ddp.py under torchrun (and once alone): a solver (argv[2]:
``kolmogorov``, deep-kolmogorov, ``bsde``, deep-bsde, ``lpd``, learned-primal-dual, or ``fno`` on the (a, u)
pairs of the file argv[3]) for 20 steps; rank 0 saves the loss history and the
parameters (or the state) to the file argv[1]."""
import os
import sys

import numpy as np

from problems.kolmogorov import Heat
from problems.operator_data import OperatorData
from problems.semilinear import AllenCahn
from problems.tomography import CT
from sciml.solvers.deep_bsde import DeepBSDE
from sciml.solvers.deep_kolmogorov import DeepKolmogorov
from sciml.solvers.learned_primal_dual import LearnedPrimalDual
from sciml.solvers.operator_learning import FNO

CASES = {
    "kolmogorov": (DeepKolmogorov(width=16, depth=2, steps=20, batch=64, lr=1e-2, dtype="float64", threads=1),
                   Heat(d=3)),
    # batch normalisation off: with it each rank would normalise by its own paths
    "bsde": (DeepBSDE(time_steps=4, steps=20, batch=32, valid_batch=32, log_every=10, batch_norm=False,
                      dtype="float64", threads=1), AllenCahn(d=4, T=0.2)),
    # float32 (the network's precision); one validation, at the last step
    "lpd": (LearnedPrimalDual(n_iter=2, width=4, steps=20, batch_size=2, validations=1, train_size=8, val_size=2,
                              lr=1e-2, threads=1), CT(n=16, angles=6, phantom="ellipses", seed=1)),
}


# 40 training pairs, batch 8: 5 steps per epoch, 4 epochs
FNO_SOLVER = FNO(modes=4, width=8, layers=2, padding=2, epochs=4, batch=8, lr=1e-2, dtype="float64", threads=1)


def operator_pairs(path):
    """48 pairs (a, u) on 16 points, u the running integral of a (a linear operator)."""
    a = np.random.default_rng(0).standard_normal((48, 16))
    np.savez(path, a=a, u=np.cumsum(a, axis=1) / 16)


def run(case="kolmogorov", data=None):
    if case == "fno":
        return FNO_SOLVER.solve(OperatorData(data=str(data), n_train=40, n_test=8), seed=3)
    solver, problem = CASES[case]
    return solver.solve(problem, seed=3)


def arrays(sol):
    """The trained numbers a run is compared by."""
    out = {k: np.asarray(v) for k, v in sol.state.items()
           if k.startswith("param.") or k in ("y0", "z0", "u_pred", "image")}
    out["loss"] = np.asarray(sol.stats["loss_history"])
    return out


if __name__ == "__main__":
    sol = run(sys.argv[2] if len(sys.argv) > 2 else "kolmogorov", sys.argv[3] if len(sys.argv) > 3 else None)
    if int(os.environ.get("RANK", "0")) == 0:
        np.savez(sys.argv[1], **arrays(sol))
    from sciml.distributed import finish
    finish()  # every rank waits here until rank 0 has written the file
