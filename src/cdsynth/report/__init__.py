"""The study's report: the numbers into summary.json (`summary`), then report.md, report.html
(self-contained) and the figures drawn from that file alone (`render`).

    write_report(cfg, methods, corpora)   # workdir/report/{summary.json, config.yaml,
                                          #                 report.md, report.html, *.png}
    printed_summary(cfg)                  # Table 2 and where the report is, from summary.json

`methods`: {method: [run per seed]} (`study.study_methods`); `corpora`: what the report needs
from the corpora and the tokenizer, read by the caller (`corpora.corpus_inputs`).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..config import ExperimentConfig
from ..fileio import read_json, write_json, write_text
from ..workspace import Workspace
from .render import render_report
from .summary import CorpusInputs, collect_report
from .tables import main_table, md_table


def write_report(
    cfg: ExperimentConfig, methods: dict[str, list[str]], corpora: CorpusInputs, log=print
) -> Path:
    """Collect the study's numbers into summary.json (with the resolved config beside it as
    config.yaml), then render report.md, report.html and the figures from that file alone."""
    folder = Workspace(cfg.workdir).report
    folder.mkdir(parents=True, exist_ok=True)
    data = collect_report(cfg, methods, corpora, log)
    write_text(
        folder / "config.yaml", yaml.safe_dump(data["provenance"]["config"], sort_keys=False)
    )
    write_json(folder / "summary.json", data)
    render_report(read_json(folder / "summary.json"), folder)
    log(md_table(data["table"]))
    log(f"report: {folder / 'report.md'} and {folder / 'report.html'}")
    return folder


def printed_summary(cfg: ExperimentConfig) -> str:
    """What a finished study prints: the report's main table (as report.md shows it, from
    summary.json) and where the report is."""
    folder = Workspace(cfg.workdir).report
    table = md_table(main_table(read_json(folder / "summary.json")["summary"], arrows=True))
    return "\n".join([table, f"report: {folder / 'report.md'} and {folder / 'report.html'}"])
