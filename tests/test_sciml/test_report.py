"""Report: rate fitting, bootstrap intervals, report.md and figures of a study."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sciml import cli, report, study

TOYS = "test_study_toys"


def test_fit_rate_recovers_an_exact_power_law():
    x = [8, 16, 32, 64]
    fit = report.fit_rate(x, [[3.0 * v ** -2.5] for v in x])
    assert fit["rate"] == pytest.approx(2.5, abs=1e-12)
    assert fit["finest"] == pytest.approx(2.5, abs=1e-12)
    assert fit["ci"] is None  # one seed: no interval


def test_fit_rate_seed_spread_gives_an_interval_and_is_reproducible():
    rng = np.random.default_rng(7)
    x = np.array([10, 20, 40, 80, 160])
    errs = [list(v ** -0.5 * np.exp(0.1 * rng.standard_normal(8))) for v in x]
    a, b = report.fit_rate(x, errs), report.fit_rate(x, errs)
    assert a == b
    lo, hi = a["ci"]
    assert lo < a["rate"] < hi
    # log-noise sd 0.1, 8 seeds, Sxx = (ln 2)^2 * 10: slope sd = 0.1 / sqrt(8 * 4.8) = 0.016
    assert 0.02 < hi - lo < 0.2
    assert abs(a["rate"] - 0.5) < 5 * 0.016


def test_fit_rate_constant_factor_per_seed_does_not_move_the_rate():
    x = [4, 8, 16]
    errs = [[c * v ** -1.0 for c in (0.5, 1.0, 2.0)] for v in x]
    assert report.fit_rate(x, errs)["rate"] == pytest.approx(1.0, abs=1e-12)


@pytest.fixture(scope="module")
def toy_study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    spec = tmp / "s.toml"
    spec.write_text(f"""title = "Toy report"
description = "Truncated sine series."
seeds = [0, 1, 2]
[[problem]]
name = "{TOYS}:Series"
[[solver]]
name = "{TOYS}:Truncated"
options = {{ n = [4, 8, 16, 32], noise = 0.05 }}
[[solver]]
name = "exact"
""")
    study.run(spec, out=tmp / "out", report=False)
    return tmp / "out"


def test_report_command_writes_markdown_analysis_and_figures(toy_study, capsys):
    assert cli.main(["report", str(toy_study)]) == 0
    assert capsys.readouterr().out.strip() == str(toy_study / "report.md")
    md = (toy_study / "report.md").read_text()
    assert md.startswith("# Toy report") and "Truncated sine series." in md
    assert "| toy-truncated | n=4 | 3 |" in md and "### Convergence rates" in md
    a = json.loads((toy_study / "analysis.json").read_text())
    assert a["counts"] == {"done": 15, "failed": 0, "pending": 0}
    (p,) = a["problems"]
    (rate,) = [r for r in p["rates"] if r["metric"] == "rel_l2"]
    assert f"**{rate['rate']:.3f}**" in md and rate["declared"] == 1.5
    # the table's numbers are the seed statistics of the stored cells
    cells = [c for c in study.load_index(toy_study)["cells"] if c["solver"] == "toy-truncated"
             and c["options"]["n"] == 8]
    row = next(r for r in p["configs"] if r["options"].get("n") == 8)
    vals = [c["errors"]["rel_l2"] for c in cells]
    assert row["mean"]["rel_l2"] == pytest.approx(np.mean(vals), rel=1e-12)
    assert row["std"]["rel_l2"] == pytest.approx(np.std(vals, ddof=1), rel=1e-12)
    figs = sorted(f.name for f in (toy_study / "figures").glob("*.png"))
    assert any(f.startswith("convergence-toy-series") for f in figs)
    assert any(f.startswith("frontier-toy-series") for f in figs)
    assert any(f.startswith("fields-toy-series") for f in figs)
    for f in figs:
        assert f"figures/{f}" in md
        assert (toy_study / "figures" / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_of_a_non_study_dir_exits_2(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "not a study directory" in capsys.readouterr().err
