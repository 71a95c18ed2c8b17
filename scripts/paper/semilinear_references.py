"""Reproduce the published semilinear values with the verified references.

radial for allen-cahn / sine-gordon, cole-hopf for hjb; one JSON line per
case with the value, the published value, the relative difference, the
Richardson correction (radial) and the wall time.

    python scripts/paper/semilinear_references.py [--nodes 1500 --steps 75]
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1500)
    ap.add_argument("--steps", type=int, default=75)
    args = ap.parse_args(argv)
    from problems.semilinear import HJB, AllenCahn, SineGordon
    from sciml.core import SciMLError
    from sciml.references.cole_hopf import ColeHopf
    from sciml.references.radial import Radial
    try:
        radial = Radial(nodes=args.nodes, steps=args.steps)
    except SciMLError as exc:
        print(f"semilinear_references: {exc}", file=sys.stderr)
        return 2
    cases = [(cls, key) for cls in (AllenCahn, SineGordon) for key in cls.PUBLISHED]
    for cls, (d, T) in cases:
        p = cls(d=d, T=T)
        t0 = time.perf_counter()
        sol = radial.solve(p)
        pub, src, unc = p.published()
        print(json.dumps({"problem": p.name, "d": d, "T": T, "reference": "radial", "nodes": args.nodes,
                          "steps": args.steps, "value": sol.value, "coarse_value": sol.stats["coarse_value"],
                          "published": pub, "rel_diff": (sol.value - pub) / pub, "source": src,
                          "wall_s": time.perf_counter() - t0}), flush=True)
    for lam in (1.0, 50.0):
        p = HJB(d=100, T=1.0, lam=lam)
        t0 = time.perf_counter()
        v = ColeHopf().solve(p).value
        pub = p.published()
        print(json.dumps({"problem": "hjb", "d": 100, "T": 1.0, "lam": lam, "reference": "cole-hopf", "value": v,
                          "published": pub[0] if pub else None,
                          "abs_diff": (v - pub[0]) if pub else None, "linear_value": p.linear_value(),
                          "wall_s": time.perf_counter() - t0}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
