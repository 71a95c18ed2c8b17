"""Dataset generators behind `sciml data NAME` (they write HDF5 atomically)."""
