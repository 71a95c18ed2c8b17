"""Learned solvers (PINN, deep Kolmogorov, deep BSDE, neural operators, ...)."""
