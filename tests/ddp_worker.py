"""Run by tests/test_ddp.py under torchrun (and once alone): deep-kolmogorov for 20
steps; rank 0 saves the loss history and the parameters to the file argv[1]."""
import os
import sys

import numpy as np

from problems.kolmogorov import Heat
from sciml.solvers.deep_kolmogorov import DeepKolmogorov

SOLVER = DeepKolmogorov(width=16, depth=2, steps=20, batch=64, lr=1e-2, dtype="float64", threads=1)
PROBLEM = Heat(d=3)


def run():
    return SOLVER.solve(PROBLEM, seed=3)


if __name__ == "__main__":
    sol = run()
    if int(os.environ.get("RANK", "0")) == 0:
        np.savez(sys.argv[1], loss=np.asarray(sol.stats["loss_history"]),
                 **{k: v for k, v in sol.state.items() if k.startswith("param.")})
    from sciml.distributed import finish
    finish()  # every rank waits here until rank 0 has written the file
