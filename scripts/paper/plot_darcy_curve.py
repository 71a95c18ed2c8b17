"""Plot test error against training time from the JSON lines of scripts/paper/darcy_paper.py.

    python scripts/paper/plot_darcy_curve.py results/darcy_paper.jsonl [...] --out docs/figures/darcy_curve.png

A line's optional "label" key replaces the default legend entry.
"""
from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--target", type=float, default=0.0108, help="Li et al. 2021's FNO error at res 85")
    args = p.parse_args(argv)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for path in args.files:
        for line in open(path):
            d = json.loads(line)
            if not d.get("curve"):
                continue
            t = [c[1] / 60 for c in d["curve"]]
            e = [c[2] for c in d["curve"]]
            label = d.get("label") or \
                f"{d['solver']} ({d['epochs_run']} of {d['options']['epochs']} epochs, {d['params']:,} params)"
            ax.plot(t, e, "o-", label=label)
    ax.axhline(args.target, color="k", ls="--", lw=1, label=f"Li et al. 2021 FNO: {args.target}")
    ax.set_yscale("log")
    ax.set_xlabel("training time (min, CPU; machines and thread counts differ, see labels)")
    ax.set_ylabel("test mean relative L2")
    ax.set_title("Darcy res 85, 1000 train / 100 test")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
