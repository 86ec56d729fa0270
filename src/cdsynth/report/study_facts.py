"""The study's facts beside its scores, for summary.json: whether it runs the paper's
configuration, its provenance (config hash, commit, versions, hardware, wall time), its
sweeps, the held-out loss of every run over training, and GOOD, the amateurs and the real
and synthetic rows each method trained on (from the checkpoints' state.json).

    paper_regime(cfg)["text"]          # "This study is not the paper's configuration (...)"
    sweep_specs(cfg)                   # [{"key", "title", "points": [{"x", "method"}]}]
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..config import ExperimentConfig, to_dict
from ..decoding_rules import setting_title
from ..fileio import git_commit, read_json, stable_hash, versions
from ..study import condition_specs, study_conditions
from ..workspace import Workspace, latest_checkpoint
from .tables import fmt_value

# The paper's training regime (configs/paper.yaml, read in its released code): the study is
# "the paper's configuration" only when every one of these matches.
PAPER_REGIME = {
    "model preset": "paper-good",
    "training steps": 8000,
    "rows per step": 256,
    "tokens per row": 1024,
    "GOOD step": 2500,
    "BAD (earlier checkpoint) step": 500,
    "seeds": 10,
}


def paper_regime(cfg: ExperimentConfig) -> dict:
    """{"matches", "share" (our training tokens per run / the paper's), "differences",
    "text"}: whether the study runs the paper's configuration (PAPER_REGIME on a real corpus),
    and if not, how far from it it is."""
    st = cfg.study
    early = [a.get("step") for a in st.amateurs.values() if a.get("run") == "baseline"]
    ours = {
        "model preset": cfg.train.model.preset,
        "training steps": cfg.train.steps,
        "rows per step": cfg.train.batch_size,
        "tokens per row": cfg.train.block_len,
        "GOOD step": st.good_step or cfg.train.steps,
        "BAD (earlier checkpoint) step": early[0] if early else None,
        "seeds": len(st.seeds),
    }
    diffs = [f"{k} {ours[k]} (paper {v})" for k, v in PAPER_REGIME.items() if ours[k] != v]
    if cfg.corpus.source == "storyworld":
        diffs.insert(0, "the built-in story world, not real text")
    paper_tokens = 8000 * 256 * 1024
    share = cfg.train.steps * cfg.train.batch_size * cfg.train.block_len / paper_tokens
    if not diffs:
        text = "This study runs the paper's configuration; the paper's figures stand beside ours."
    elif cfg.train.model.preset == "paper-good" and cfg.corpus.source != "storyworld":
        text = (
            f"This study uses the paper's shapes at {_pct(share)} of its training "
            f"({'; '.join(diffs)}); the paper's figures beside ours are at its scale."
        )
    else:
        text = (
            f"This study is not the paper's configuration ({'; '.join(diffs)}); it trains "
            f"{_pct(share)} of the paper's tokens per run; the paper's figures beside ours are "
            "at its scale."
        )
    return {"matches": not diffs, "share": share, "differences": diffs, "text": text}


def is_paper_configuration(cfg: ExperimentConfig) -> bool:
    """The paper's figures are comparable only in the paper's regime (see `paper_regime`)."""
    return paper_regime(cfg)["matches"]


def _pct(share: float) -> str:
    return f"{100 * share:.2g}%" if share < 0.1 else f"{100 * share:.0f}%"


def hardware() -> str:
    import os
    import platform

    import torch

    from ..machine import cpu_model

    text = f"{cpu_model()}, {os.cpu_count()} CPU cores"
    if torch.cuda.is_available():
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        text += f"; GPU: {', '.join(dict.fromkeys(gpus))} x {len(gpus)}"
    return text + f"; {platform.system()} {platform.release()}"


def provenance(cfg: ExperimentConfig, methods: dict[str, list[str]]) -> dict:
    """What produced the numbers: the config's hash (the resolved config is written beside the
    report as config.yaml), git commit, package versions, hardware, date, seeds, B and the
    time from the study's first output to this report."""
    data = to_dict(cfg)
    data["evaluate"]["passwords"] = {k: None for k in data["evaluate"].get("passwords", {})}
    ws = Workspace(cfg.workdir)
    first = [p.stat().st_mtime for p in (ws.corpus / "manifest.json",) if p.is_file()]
    now = datetime.now(timezone.utc)
    return {
        "config": data,
        "config_hash": stable_hash(data)[:16],
        "git_commit": git_commit(),
        "versions": versions(),
        "hardware": hardware(),
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "seeds": list(cfg.study.seeds),
        "runs": sum(len(r) for r in methods.values()),
        "bootstrap_samples": cfg.study.bootstrap_samples,
        "resample": cfg.study.resample.value,
        "elapsed_hours": (now.timestamp() - first[0]) / 3600 if first else None,
    }


def eval_loss_points(cfg: ExperimentConfig, methods: dict[str, list[str]]) -> dict:
    """{method: {step: [held-out loss of each seed]}} from the runs' metrics.jsonl."""
    out: dict = {}
    for m, runs in methods.items():
        for run in runs:
            f = Workspace(cfg.workdir).run(run) / "metrics.jsonl"
            if not f.is_file():
                continue
            for line in f.read_text().splitlines():
                r = json.loads(line) if line.strip() else {}
                if r.get("eval_loss") is not None:
                    out.setdefault(m, {}).setdefault(r["step"], []).append(r["eval_loss"])
    return out


# the decoding settings' titles are the rules' own (decoding_rules.setting_title)
SWEEP_TITLES = {"ratio": "Mixing ratio (synthetic share of rows)"}


def sweep_groups(cfg: ExperimentConfig, key: str) -> list[list[dict]]:
    """Groups of conditions that differ only in `key` (ratio, top_k or top_p)."""

    conds = condition_specs(cfg.study)
    groups: dict = {}
    for c in conds:
        rest = json.dumps({k: v for k, v in c.items() if k not in ("name", key)}, sort_keys=True)
        groups.setdefault(rest, []).append(c)
    return [g for g in groups.values() if len({json.dumps(c.get(key)) for c in g}) > 1]


def sweep_specs(cfg: ExperimentConfig) -> list[dict]:
    """[{"key", "title", "points": [{"x", "method"}]}]: one per group of conditions that differ
    only in a swept setting, a condition without the setting at the config's default."""
    dec = cfg.generate.decoding
    default = {f.name: getattr(dec, f.name) for f in dataclasses.fields(dec)}
    default["ratio"] = cfg.study.ratio
    keys = list(dict.fromkeys(sw["key"] for sw in cfg.study.sweeps if isinstance(sw, dict)))
    out = []
    for key in keys:
        for group in sweep_groups(cfg, key):
            pts = [
                {"x": c[key] if c.get(key) is not None else default.get(key), "method": c["name"]}
                for c in group
            ]
            pts.sort(key=lambda p: (p["x"] is None, p["x"] if p["x"] is not None else 0))
            title = SWEEP_TITLES.get(key) or setting_title(key) or key
            out.append({"key": key, "title": title, "points": pts})
    return out


def _state(checkpoint: Path) -> dict:
    f = checkpoint / "state.json"
    return read_json(f) if f.is_file() else {}


def model_tables(
    cfg: ExperimentConfig, methods: dict[str, list[str]], n_blocks: int | None
) -> tuple[list, list]:
    """(GOOD and the amateurs: checkpoint, epochs of real text, held-out loss;
    each method's training data: epochs of real text and the synthetic share of its rows),
    read from the checkpoints' state.json. Epochs = real rows seen / `n_blocks`, the blocks
    in one epoch of the real train split (None: not known, no epochs shown).
    """
    ws = Workspace(cfg.workdir)

    def epochs(state: dict):
        if not n_blocks or "rows_total" not in state:
            return None
        return (state["rows_total"] - state.get("synthetic_rows_total", 0)) / n_blocks

    models = [["model", "checkpoint", "step", "epochs of real text", "held-out loss"]]
    seen = set()
    for cond in study_conditions(cfg):
        g = cond.generate
        for role, path in (("GOOD", g.good), (f"BAD of {cond.name}", g.bad)):
            if path is None and role != "GOOD" and g.bad_dropout > 0:
                if ("dropout", g.bad_dropout) not in seen:
                    seen.add(("dropout", g.bad_dropout))
                    models.append([role, f"GOOD with dropout {g.bad_dropout}", "-", "-", "-"])
                continue
            if path is None or path in seen:
                continue
            seen.add(path)
            st = _state(ws.root / path)
            models.append(
                [
                    role,
                    path,
                    str(st.get("step", "-")),
                    fmt_value(epochs(st), 3),
                    fmt_value(st.get("eval_loss")),
                ]
            )
    data = [
        ["method", "steps", "epochs of real text", "synthetic share of rows", "last held-out loss"]
    ]
    for m, runs in methods.items():
        lasts = [latest_checkpoint(ws.run(run)) for run in runs]
        states = [st for ck in lasts if ck and "rows_total" in (st := _state(ck))]
        if not states:
            continue
        ep = [epochs(st) for st in states]
        share = [st.get("synthetic_rows_total", 0) / st["rows_total"] for st in states]
        losses = [st["eval_loss"] for st in states if st.get("eval_loss") is not None]
        data.append(
            [
                m,
                str(states[0]["step"]),
                fmt_value(np.mean(ep), 3) if None not in ep else "-",
                fmt_value(np.mean(share), 3),
                fmt_value(np.mean(losses)) if losses else "-",
            ]
        )
    return models, data
