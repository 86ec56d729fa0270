"""Pins the report's output: the reference study's summary.json renders to the same report.md
and report.html (figures by name and size, not bytes), and a summary of hand-made eval folders
is the same summary.json.

The golden files under tests/data/golden/ pin issue 37's layout (the findings first, the
compact Table 2 beside the full one, the claims with the paper's figures, provenance last;
mu-Delta-REL's CI as a paired t over seeds) and were written by
`python -m tests.test_golden_report write`; the reference summary is a copy of
results/reference-cpu/summary.json as of issue 37."""

import json
import math
import re
import sys
from pathlib import Path

import numpy as np

from .conftest import tiny_config
from .pins import pin_differences, pin_of
from .test_report import reading_words, write_run

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
# a frozen copy of the reference study's summary.json (results/ moves on as the study grows)
REFERENCE = GOLDEN / "reference-cpu.summary.json"
FIGURE = re.compile(r'src="data:image/png;base64,[A-Za-z0-9+/=]*"')


def _render(folder: Path) -> tuple[str, str, list[str]]:
    from cdsynth.fileio import read_json

    try:
        from cdsynth.report.render import render_report
    except ImportError:  # before the split
        from cdsynth.report import render_report

    folder.mkdir(parents=True, exist_ok=True)
    render_report(read_json(REFERENCE), folder)
    md = (folder / "report.md").read_text(encoding="utf-8")
    html = FIGURE.sub('src="data:image/png;base64,"', (folder / "report.html").read_text())
    return md, html, sorted(p.name for p in folder.glob("*.png"))


def hand_made_summary(root: Path) -> dict:
    """summarize() of hand-made eval folders: every kind of task the report derives."""
    try:
        from cdsynth.report.summary import summarize
    except ImportError:  # before the split
        from cdsynth.report import summarize

    cfg = tiny_config(
        root,
        "study.seeds=[0, 1]",
        "study.amateurs={early: {run: baseline, step: 4}}",
        "study.conditions=[{name: no-contrast, strategy: ancestral}, "
        "{name: cd-early, strategy: cd, amateur: early}]",
        "study.sweeps=[{base: cd-early, key: top_k, values: [50]}]",
        "study.bootstrap_samples=60",
        "evaluate.tasks=[perplexity, blimp, reading, wug, entity_tracking]",
    )
    rng = np.random.default_rng(0)
    methods: dict = {"baseline": [], "no-contrast": [], "cd-early": [], "cd-early-top_k-50": []}
    shifts = {"baseline": 0.0, "no-contrast": 0.5, "cd-early": 1.0, "cd-early-top_k-50": 0.8}
    for m, shift in shifts.items():
        for seed in (0, 1):
            run = ("baseline" if m == "baseline" else f"mix-{m}") + f"-seed{seed}"
            methods[m].append(run)
            for step in (4, 8):
                words = reading_words(rng, 4 * shift)
                write_run(
                    root,
                    run,
                    "reading",
                    "reading_gain",
                    {step: (1.0 + shift, words)},
                    subtasks={"eye_tracking": 1.0 + shift, "self_paced_reading": 2.0},
                )
                wug = [
                    {"id": f"f/{i}", "subtask": "f", "p_first": rng.random(), "ratio": rng.random()}
                    for i in range(30)
                ]
                score = math.nan if m == "no-contrast" else 0.05 * shift + 0.01 * step
                share = float(np.mean([it["p_first"] >= 0.5 for it in wug]))
                write_run(
                    root,
                    run,
                    "wug",
                    "spearman",
                    {step: (score, wug)},
                    extra={"first_form_share": share},
                )
                et = [
                    {
                        "id": str(i),
                        "subtask": "ab"[i % 2],
                        "correct": bool(rng.random() < 0.3 + 0.1 * shift),
                    }
                    for i in range(50)
                ]
                acc = float(np.mean([it["correct"] for it in et]))
                write_run(root, run, "entity_tracking", "accuracy", {step: (acc, et)})
                bl = [
                    {
                        "id": str(i),
                        "subtask": "xyz"[i % 3],
                        "correct": bool(rng.random() < 0.6 + 0.05 * shift),
                    }
                    for i in range(60)
                ]
                subs = {
                    s: float(np.mean([it["correct"] for it in bl if it["subtask"] == s]))
                    for s in "xyz"
                }
                write_run(
                    root,
                    run,
                    "blimp",
                    "accuracy",
                    {step: (float(np.mean(list(subs.values()))), bl)},
                    subtasks=subs,
                )
                pp = [
                    {
                        "id": str(i),
                        "subtask": "",
                        "nll": float(rng.uniform(20, 40) - shift),
                        "tokens": 10,
                    }
                    for i in range(40)
                ]
                ppl = math.exp(sum(it["nll"] for it in pp) / 400)
                write_run(root, run, "perplexity", "perplexity", {step: (ppl, pp)})
    summary = summarize(cfg, methods)
    return json.loads(json.dumps(summary))  # as summary.json holds it


def test_the_reference_summary_renders_as_before(tmp_path):
    md, html, figures = _render(tmp_path / "report")
    # the layout in brief (the files below pin every byte): findings before any table
    heads = ["## What this study found", "## Main results (Table 2)", "## The paper's claims"]
    assert [md.index(h) for h in heads] == sorted(md.index(h) for h in heads)
    assert md.index("What it cannot show") < md.index("| method |")
    assert html.index("class='findings'") < html.index("<table")
    assert html.index("t2 t2c compact") < html.index("t2 t2c scroll")
    assert md == (GOLDEN / "reference-cpu.report.md").read_text(encoding="utf-8")
    assert html == (GOLDEN / "reference-cpu.report.html").read_text(encoding="utf-8")
    sizes = json.loads((GOLDEN / "reference-cpu.figures.json").read_text())
    assert figures == sorted(sizes)
    for name, size in sizes.items():  # the same figures, about the same size
        assert abs((tmp_path / "report" / name).stat().st_size - size) < 0.2 * size + 2000


def test_a_finished_study_prints_the_table_its_report_shows(tmp_path):
    import shutil

    from cdsynth.report import printed_summary

    (tmp_path / "report").mkdir()
    shutil.copy(REFERENCE, tmp_path / "report" / "summary.json")
    printed = printed_summary(tiny_config(tmp_path)).splitlines()
    assert printed[0].startswith("| method |") and len(printed) > 3
    assert "\n".join(printed[:-1]) in (GOLDEN / "reference-cpu.report.md").read_text()


def test_a_hand_made_study_summarizes_as_before(tmp_path):
    got = hand_made_summary(tmp_path / "ws")
    want = json.loads((GOLDEN / "hand-made.summary.json").read_text())
    # every name, count and structure exactly; the statistics to float rounding (bootstrap
    # intervals move in their last digits on a CPU with other vector units)
    got = json.loads(json.dumps(got))  # tuples as lists, as in the file
    assert pin_differences(pin_of(got), pin_of(want)) == []


if __name__ == "__main__" and sys.argv[1:] == ["write"]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        md, html, figures = _render(Path(d) / "report")
        (GOLDEN / "reference-cpu.report.md").write_text(md, encoding="utf-8")
        (GOLDEN / "reference-cpu.report.html").write_text(html, encoding="utf-8")
        sizes = {f: (Path(d) / "report" / f).stat().st_size for f in figures}
        (GOLDEN / "reference-cpu.figures.json").write_text(json.dumps(sizes, indent=1) + "\n")
        got = hand_made_summary(Path(d) / "ws")
        (GOLDEN / "hand-made.summary.json").write_text(json.dumps(got, indent=1) + "\n")
