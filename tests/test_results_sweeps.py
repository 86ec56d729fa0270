"""RESULTS.md's sweep sections are what results/reference-cpu/sweeps.py computes from the
committed summary.json, and its mu-Delta-REL is the report's (the baseline's score as the
denominator, issue 37)."""

import contextlib
import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]
REFERENCE = ROOT / "results" / "reference-cpu"


def sweeps_module():
    spec = importlib.util.spec_from_file_location("sweeps", REFERENCE / "sweeps.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_seeds_mu_delta_rel_divides_by_the_baselines_score():
    sweeps = sweeps_module()
    method = {"a": np.array([0.6, 0.4]), "b": np.array([0.3, 0.3])}
    baseline = {"a": np.array([0.5, 0.3]), "b": np.array([0.2, 0.4])}
    # baseline's scores 0.4 (a) and 0.3 (b): seed 0 (0.1/0.4 + 0.1/0.3) / 2, seed 1 the same
    # with (0.1, -0.1); the same seed's baseline would give (0.1/0.5 + 0.1/0.2) / 2 = 0.35
    got = sweeps.seed_mu_delta_rel(method, baseline, ["a", "b"])
    want = [(0.1 / 0.4 + 0.1 / 0.3) / 2, (0.1 / 0.4 - 0.1 / 0.3) / 2]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_results_md_sweep_tables_are_what_sweeps_py_prints():
    sweeps = sweeps_module()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        sweeps.main(str(REFERENCE / "summary.json"))
    text = (ROOT / "RESULTS.md").read_text().replace("*", "")  # significance marks aside
    summary = json.loads((REFERENCE / "summary.json").read_text())["summary"]
    checked = 0
    for line in out.getvalue().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != 9 or not cells[6].endswith("%"):
            continue
        assert f"| {cells[6]} |" in text, cells  # the point's mu-Delta-REL, as Table 2's
        for cell in cells[7:]:  # its differences from the sweep's default
            if cell:
                assert f"| {cell} |" in text, cell
                checked += 1
    assert checked == 2 * 12  # 8 truncated points and 4 mixing ratios
    # each seed's mu-Delta-REL averages to the report's, for every method
    tasks, seeds = summary["relative_tasks"], summary["curve_seeds"]
    best = {m: {t: sweeps.per_seed_best(seeds[m], t) for t in tasks} for m in seeds}
    for m, row in summary["rows"].items():
        if m != "baseline":
            mdr = sweeps.seed_mu_delta_rel(best[m], best["baseline"], tasks)
            assert mdr.mean() == pytest.approx(row["mu_delta_rel"]["value"], abs=1e-12), m
