#!/usr/bin/env bash
# Idempotent set-up on Debian 12 (as on CI): DOLFINx and h5py from Debian, a
# .venv that sees them, then the pinned Python packages and sciml (editable).
# A second run only checks and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# python3-gmsh (meshes of disks/polygons, .msh files) from Debian rather than the
# gmsh wheel: it links the same system libraries as DOLFINx (no second copies in one process).
if ! /usr/bin/python3 -c "import dolfinx, h5py, ensurepip, gmsh" >/dev/null 2>&1; then
  echo "[setup] installing python3-dolfinx python3-h5py python3-venv python3-gmsh from Debian" >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q python3-dolfinx python3-h5py python3-venv python3-gmsh >&2
fi

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv (system site packages: dolfinx, h5py)" >&2
  /usr/bin/python3 -m venv --system-site-packages .venv
fi

# Reinstall only when the requirements change.
REQS=(torch==2.13.0 "numpy<2" "numba>=0.60" "scipy>=1.10" "deepxde>=1.10" "matplotlib>=3.5"
      "tqdm>=4.60" "pytest>=7" "dask[distributed]>=2023.1" "scikit-image>=0.20")
stamp=".venv/.sciml-setup-$(printf '%s\n' "${REQS[@]}" | cat - pyproject.toml | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "[setup] installing Python packages into .venv" >&2
  .venv/bin/python -m pip install -q "${REQS[@]}" >&2
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . >&2
  .venv/bin/python -c "import dolfinx, h5py, torch, numba, deepxde" >&2
  rm -f .venv/.sciml-setup-*
  touch "$stamp"
fi

# Benchmark-only peers, never needed by the tests: `scripts/setup.sh --bench` adds ASTRA's
# CPU projectors and neuraloperator's FNO (scripts/bench/bench_radon.py, bench_operators.py).
# neuraloperator without its declared dependencies: they would bring a pip h5py (a second
# HDF5 library, see above) and wandb; its FNO needs only tensorly(-torch) and opt_einsum.
if [ "${1:-}" = "--bench" ] && ! .venv/bin/python -c \
    "import astra, neuralop.models; assert astra.__version__ == '2.5.0' and neuralop.__version__ == '2.0.0'" >/dev/null 2>&1; then
  echo "[setup] installing the benchmark peers (astra-toolbox, neuraloperator) into .venv" >&2
  .venv/bin/python -m pip install -q astra-toolbox==2.5.0 tensorly==0.10.0 tensorly-torch==0.5.0 opt_einsum==3.4.0 \
      torch==2.13.0 "numpy<2" >&2
  .venv/bin/python -m pip install -q --no-deps neuraloperator==2.0.0 >&2
  .venv/bin/python -c "import astra, neuralop.models" >&2
fi
