"""The problem catalogue: one module per family."""
