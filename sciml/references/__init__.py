"""Classical reference solvers (FEM, Monte Carlo, quadrature, ...)."""
