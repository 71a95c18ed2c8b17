"""Run under mpirun by tests/test_sciml/references/test_fem.py: P2 Poisson on a mesh distributed over the ranks."""
from mpi4py import MPI
from problems.elliptic import Poisson
from sciml.references.fem import FEM
p = Poisson(d=2)
s = FEM(degree=2, n=32, linear_solver="cg-amg").solve(p)
errs = s.extra_errors(p)
x = p.test_points()
import numpy as np
v = s(x)
if MPI.COMM_WORLD.rank == 0:
    print(MPI.COMM_WORLD.size, errs["rel_l2_fem"], np.linalg.norm(v - p.exact(x)) / np.linalg.norm(p.exact(x)))
