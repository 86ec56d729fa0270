"""The displacement control of RESULTS.md: is a mixed run's loss against the baseline the
synthetic rows' fault, or the real text they displace?

A mixed run at ratio 0.3 sees 70% of the baseline's real rows (7 of its 10 epochs).
`real-only-490` trains the baseline's config for 490 steps (0.7 x 700): the same real rows,
no synthetic rows, its own cosine schedule. Run from the repository root, after the study:

    bash results/reference-cpu/control.sh      # trains and evaluates real-only-490-seed{0,1,2}
    .venv/bin/python results/reference-cpu/control.py

It links the study's runs beside the control runs and writes a full report (mean-max, the
same statistics as the study: the seeds scheme) to runs/reference-cpu-control/report/.
"""

import dataclasses
from pathlib import Path

from cdsynth import report
from cdsynth.config import load_config
from cdsynth.corpora import corpus_inputs
from cdsynth.study import study_methods

STUDY = Path("runs/reference-cpu")
CONTROL = Path("runs/reference-cpu-control")


def main() -> None:
    cfg = load_config("configs/reference-cpu.yaml")
    methods = study_methods(cfg)
    for runs in methods.values():
        for run in runs:
            link = CONTROL / "runs" / run
            if not link.exists():
                link.symlink_to(Path("../..") / STUDY.name / "runs" / run)
    control_runs = [f"real-only-490-seed{s}" for s in cfg.study.seeds]
    methods["real-only-490"] = [r for r in control_runs if (CONTROL / "runs" / r).is_dir()]
    control = dataclasses.replace(cfg, workdir=str(CONTROL))
    report.write_report(control, methods, corpus_inputs(control))


if __name__ == "__main__":
    main()
