import os

# Tests run on 2 cores; keep BLAS from oversubscribing when numba/torch also thread.
os.environ.setdefault("OMP_NUM_THREADS", "2")
