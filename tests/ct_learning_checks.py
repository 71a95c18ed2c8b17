"""Checks shared by the tests of the learned CT solvers (fbp-unet, learned-primal-dual)."""
from __future__ import annotations

import numpy as np


def check_checkpoint_reused(solver, model, ckpt, problem) -> None:
    """A second ``model`` call loads the checkpoint (not retrained) and reconstructs as the
    trained model did (float32 network: 1e-6); ``solve`` goes through it too."""
    again = solver.model(problem)
    assert again.stats.get("loaded_from") == str(ckpt)
    assert np.allclose(again.reconstruct(problem.sinogram()), model.reconstruct(problem.sinogram()), atol=1e-6)
    sol = solver.solve(problem)
    assert sol.state["image"].shape == (problem.n, problem.n) and sol.stats["loaded_from"] == str(ckpt)
