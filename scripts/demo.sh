#!/usr/bin/env bash
# The main job. Sets up (idempotent), then:
#   1. the learned-vs-classical Poisson comparison (PINN vs FEM P1/P2; table + figure);
#   2. the quick-start error study across families (report.md + figures).
# Usage: scripts/demo.sh [all|poisson|quickstart]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
what="${1:-all}"
py=.venv/bin/python
if [ "$what" = all ] || [ "$what" = poisson ]; then
  echo "== Poisson d=2: PINN vs FEM (results/poisson)" >&2
  $py scripts/paper/poisson_comparison.py --out results/poisson
fi
if [ "$what" = all ] || [ "$what" = quickstart ]; then
  echo "== quick-start study (results/quickstart)" >&2
  .venv/bin/sciml study scripts/quickstart.toml --out results/quickstart --workers 2
  echo "report: results/quickstart/report.md (figures in results/quickstart/figures/)"
fi
