"""Darcy flow in the FNO paper's setting: FNO, DeepONet and U-Net against the FEM data.

Usage (data first: ``sciml data darcy --res 85 --count 1100 --seed 0 --out data/darcy_85.h5``
and, for the zero-shot test set, ``sciml data darcy --res 141 --start 1000 --count 100
--seed 0 --out data/darcy_141_test.h5``)::

    nice -n 10 python scripts/paper/darcy_paper.py --data data/darcy_85.h5 \
        --eval-data data/darcy_141_test.h5 --out results/darcy_paper \
        --run fno:epochs=10,batch=10,lr=2e-3,schedule=cosine,eval_every=1 \
        --run deeponet:epochs=200,lr=1e-3,schedule=cosine,eval_every=20,time_limit=420

Each ``--run SOLVER:KEY=VALUE,...`` trains on samples 0..999, tests on
1000..1099 against ``darcy-fem``, writes ``OUT/SOLVER.h5`` (the run record,
loss history and error curve) and ``OUT/SOLVER.ckpt.h5`` (the model), and
prints one JSON line: errors, parameters, training time, inference and FEM
time per sample, and the curve (epoch, training seconds, test mean rel L2).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from sciml import io, registry
from sciml.evaluate import evaluate


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--eval-data", default="")
    p.add_argument("--res", type=int, default=85)
    p.add_argument("--n-train", type=int, default=1000)
    p.add_argument("--n-test", type=int, default=100)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run", action="append", required=True, help="SOLVER:KEY=VALUE,...")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    problem = registry.make_problem("darcy", res=args.res, data=args.data, n_train=args.n_train,
                                    n_test=args.n_test, eval_data=args.eval_data)
    for spec in args.run:
        name, _, rest = spec.partition(":")
        opts = dict(kv.split("=", 1) for kv in rest.split(",") if kv)
        opts.setdefault("checkpoint", str(args.out / f"{name}.ckpt.h5"))
        solver = registry.make_solver(name, **opts)
        rec = evaluate(problem, solver, "darcy-fem", seed=args.seed)
        io.save(args.out / f"{name}.h5", rec)
        curve = rec.stats.get("curve")
        line = {"solver": name, "options": rec.options, "errors": rec.errors,
                "params": rec.stats.get("parameters"), "epochs_run": rec.stats.get("epochs_run"),
                "train_s": rec.stats.get("train_s"), "wall_s": rec.wall_s,
                "curve": np.asarray(curve).tolist() if curve is not None else None}
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
