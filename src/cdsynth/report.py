"""The study's report: tables, learning curves, sweeps and corpus diagnostics.

    write_report(cfg, methods)   # workdir/report/{report.md, report.html, *.png, summary.json}

`methods` maps a method name ("baseline" or a condition) to its run names (one per seed).
Scores come from each run's eval/ folder; statistics from `cdsynth.analysis`.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

from . import analysis
from .config import ExperimentConfig
from .fileio import read_json, write_json, write_text
from .train import list_checkpoints

# --- collecting results -----------------------------------------------------------------------


def load_scores(run_dir: Path) -> dict:
    """{task: {step: summary}} from a run's eval folder."""
    out: dict = {}
    for ck in list_checkpoints(run_dir):
        folder = run_dir / "eval" / ck.name
        for f in sorted(folder.glob("*.json")):
            s = read_json(f)
            out.setdefault(s["task"], {})[int(ck.name[5:])] = s
    return out


def load_items(run_dir: Path, step: int, task: str) -> list[dict]:
    path = run_dir / "eval" / f"step_{step}" / f"{task}.items.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def summarize(cfg: ExperimentConfig, methods: dict[str, list[str]]) -> dict:
    """Mean-max scores per method and task, bootstrap comparisons with the baseline,
    relative improvements and mu-Delta-REL."""
    root = Path(cfg.workdir) / "runs"
    scores = {m: {run: load_scores(root / run) for run in runs} for m, runs in methods.items()}
    tasks = [
        t for t in cfg.evaluate.tasks if any(t in s for r in scores.values() for s in r.values())
    ]
    table: dict = {}
    for m, runs in methods.items():
        for t in tasks:
            lower = t in analysis.LOWER_IS_BETTER
            by_seed = {
                run: {step: s["score"] for step, s in scores[m][run].get(t, {}).items()}
                for run in runs
            }
            table.setdefault(m, {})[t] = {
                "mean_max": analysis.mean_max(by_seed, lower),
                "metric": _metric(scores[m], t),
            }
    out = {"tasks": tasks, "methods": list(methods), "rows": {}}
    base = table.get("baseline", {})
    base_items: dict[str, list] = {}
    for m in methods:
        row = {}
        rel = {}
        for t in tasks:
            mm = table[m][t]["mean_max"]
            cell = {"value": mm.value, "steps": mm.steps}
            if m != "baseline" and t in base and math.isfinite(base[t]["mean_max"].value):
                lower = t in analysis.LOWER_IS_BETTER
                rel[t] = analysis.relative_improvement(mm.value, base[t]["mean_max"].value, lower)
                cell["relative"] = rel[t]
                stat = analysis.STATISTICS.get(table[m][t]["metric"])
                if stat is not None:
                    mi = [load_items(root / r, st, t) for r, st in mm.steps.items()]
                    if t not in base_items:  # read once, compared with every method
                        steps = base[t]["mean_max"].steps.items()
                        base_items[t] = [load_items(root / r, st, t) for r, st in steps]
                    bi = base_items[t]
                    try:
                        c = analysis.paired_bootstrap(
                            mi, bi, stat, cfg.study.bootstrap_samples, cfg.study.bootstrap_seed
                        )
                        cell.update(
                            diff=c.diff, ci=list(c.ci), p=c.p, mark=analysis.significance_mark(c.p)
                        )
                    except ValueError:
                        pass
            row[t] = cell
        row["mu_delta_rel"] = analysis.mu_delta_rel(rel) if m != "baseline" else None
        out["rows"][m] = row
    out["subtasks"] = _subtasks(scores, table, tasks)
    out["curves"] = {m: {t: _curve(scores[m], t) for t in tasks} for m in methods}
    return out


def _metric(scores_by_run: dict, task: str) -> str:
    for per_task in scores_by_run.values():
        for s in per_task.get(task, {}).values():
            return s["metric"]
    return "accuracy"


def _subtasks(scores, table, tasks) -> dict:
    """{task: {subtask: {method: mean over seeds at each seed's selected checkpoint}}}."""
    out: dict = {}
    for t in tasks:
        for m, runs in scores.items():
            steps = table[m][t]["mean_max"].steps
            vals: dict = {}
            for run, step in steps.items():
                for sub, v in runs[run][t][step].get("subtasks", {}).items():
                    vals.setdefault(sub, []).append(v)
            for sub, v in vals.items():
                out.setdefault(t, {}).setdefault(sub, {})[m] = float(np.mean(v))
    return out


def _curve(scores_by_run: dict, task: str) -> dict:
    """{step: mean score over seeds}."""
    steps: dict = {}
    for per_task in scores_by_run.values():
        for step, s in per_task.get(task, {}).items():
            steps.setdefault(step, []).append(s["score"])
    return {k: float(np.mean(v)) for k, v in sorted(steps.items())}


# --- corpus diagnostics ----------------------------------------------------------------------


def ngrams(words: list[str], n: int):
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(docs: list[list[str]], n: int) -> float:
    grams = [g for d in docs for g in ngrams(d, n)]
    return len(set(grams)) / max(len(grams), 1)


def repetition_rate(docs: list[list[str]], n: int = 4) -> float:
    """Share of n-grams that repeat an earlier n-gram of the same document."""
    rep = total = 0
    for d in docs:
        seen = set()
        for g in ngrams(d, n):
            total += 1
            rep += g in seen
            seen.add(g)
    return rep / max(total, 1)


def bleu(hyp: list[str], refs: list[list[str]], max_n: int = 4) -> float:
    """Sentence BLEU-4 (uniform weights, +1 smoothing) of one text against references."""
    if not hyp:
        return 0.0
    logp = 0.0
    for n in range(1, max_n + 1):
        h = Counter(ngrams(hyp, n))
        best: Counter = Counter()
        for r in refs:
            for g, c in Counter(ngrams(r, n)).items():
                best[g] = max(best[g], c)
        match = sum(min(c, best[g]) for g, c in h.items())
        logp += math.log((match + 1) / (sum(h.values()) + 1)) / max_n
    ref_len = min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1] if refs else 0
    bp = 1.0 if len(hyp) > ref_len else math.exp(1 - ref_len / max(len(hyp), 1))
    return bp * math.exp(logp)


def self_bleu(docs: list[list[str]], k: int = 30) -> float:
    """Mean BLEU of each of the first k documents against the other k - 1."""
    docs = docs[:k]
    if len(docs) < 2:
        return float("nan")
    return float(np.mean([bleu(d, docs[:i] + docs[i + 1 :]) for i, d in enumerate(docs)]))


def overlap_8gram(docs: list[list[str]], train_grams: set) -> float:
    grams = [g for d in docs for g in ngrams(d, 8)]
    return sum(g in train_grams for g in grams) / max(len(grams), 1)


def corpus_diagnostics(
    texts: list[str], train_grams: set, sample: int, ended_with_eos: list[bool] | None = None
) -> dict:
    docs = [t.split() for t in texts]
    lengths = [len(d) for d in docs]
    return {
        "documents": len(docs),
        "mean_words": float(np.mean(lengths)) if lengths else 0.0,
        "median_words": float(np.median(lengths)) if lengths else 0.0,
        "eos_share": float(np.mean(ended_with_eos)) if ended_with_eos else None,
        "distinct_1": distinct_n(docs, 1),
        "distinct_2": distinct_n(docs, 2),
        "distinct_3": distinct_n(docs, 3),
        "repetition_4gram": repetition_rate(docs),
        "self_bleu": self_bleu(docs[:sample]),
        "overlap_8gram_train": overlap_8gram(docs, train_grams),
    }


def contrast_samples(cfg: ExperimentConfig, rows: list[dict], gen, n: int = 2) -> list[list[tuple]]:
    """[(token text, log p_good - log p_bad)] for a few CD samples, by teacher forcing."""
    import torch
    from transformers import AutoModelForCausalLM

    from .generate import resolve_model_path
    from .tokenizer import load_tokenizer

    good_path = resolve_model_path(gen.good, cfg.workdir)
    good = AutoModelForCausalLM.from_pretrained(str(good_path), dtype=torch.float32).eval()
    if gen.bad:
        bad = AutoModelForCausalLM.from_pretrained(
            str(resolve_model_path(gen.bad, cfg.workdir)), dtype=torch.float32
        ).eval()
    else:  # a dropout amateur: not reproducible with the HF model; show no contrast
        return []
    tok = load_tokenizer(good_path)
    out = []
    for r in rows[:n]:
        ids = list(r["prefix_token_ids"]) + list(r["token_ids"])
        x = torch.tensor([ids])
        with torch.no_grad():
            g = torch.log_softmax(good(input_ids=x).logits[0, :-1].float(), -1)
            b = torch.log_softmax(bad(input_ids=x).logits[0, :-1].float(), -1)
        t = torch.tensor(ids[1:])
        c = (g.gather(1, t[:, None]) - b.gather(1, t[:, None]))[:, 0].tolist()
        P = len(r["prefix_token_ids"])
        out.append([(tok.decode([ids[i + 1]]), c[i]) for i in range(P - 1, len(ids) - 1)])
    return out


# --- figures ----------------------------------------------------------------------------------


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(cfg, methods, summary, folder: Path) -> list[str]:
    plt = _plt()
    names = []
    fig, ax = plt.subplots(figsize=(6, 4))
    for m, runs in methods.items():
        rows = []
        for run in runs:
            f = Path(cfg.workdir) / "runs" / run / "metrics.jsonl"
            if f.is_file():
                rows += [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
        pts: dict = {}
        for r in rows:
            if "eval_loss" in r:
                pts.setdefault(r["step"], []).append(r["eval_loss"])
        if pts:
            xs = sorted(pts)
            ax.plot(xs, [np.mean(pts[x]) for x in xs], marker="o", label=m)
    ax.set_xlabel("step"), ax.set_ylabel("eval loss (nats/token)"), ax.legend()
    ax.set_title("Eval loss during training")
    fig.tight_layout()
    fig.savefig(folder / "curve_eval_loss.png", dpi=100)
    plt.close(fig)
    names.append("curve_eval_loss.png")
    for t in summary["tasks"]:
        fig, ax = plt.subplots(figsize=(6, 4))
        for m in methods:
            c = summary["curves"][m][t]
            if c:
                ax.plot(list(c), list(c.values()), marker="o", label=m)
        ax.set_xlabel("step"), ax.set_ylabel(t), ax.legend(), ax.set_title(f"{t} over training")
        fig.tight_layout()
        fig.savefig(folder / f"curve_{t}.png", dpi=100)
        plt.close(fig)
        names.append(f"curve_{t}.png")
    return names


def sweep_groups(cfg: ExperimentConfig, key: str) -> list[list[dict]]:
    """Groups of conditions that differ only in `key` (ratio, top_k or top_p)."""
    from .experiment import condition_specs

    conds = condition_specs(cfg.study)
    groups: dict = {}
    for c in conds:
        rest = json.dumps({k: v for k, v in c.items() if k not in ("name", key)}, sort_keys=True)
        groups.setdefault(rest, []).append(c)
    return [g for g in groups.values() if len({json.dumps(c.get(key)) for c in g}) > 1]


def plot_sweeps(cfg, summary, folder: Path) -> list[str]:
    plt = _plt()
    names = []
    dec = cfg.generate.decoding
    default = {"ratio": cfg.study.ratio, "top_k": dec.top_k, "top_p": dec.top_p, "lam": dec.lam}
    for key, title in (
        ("ratio", "Mixing ratio"),
        ("top_k", "Top-k truncation"),
        ("top_p", "Top-p truncation"),
        ("lam", "Contrast strength (lambda)"),
    ):
        for gi, group in enumerate(sweep_groups(cfg, key)):

            def x_of(c, key=key):
                return c[key] if c.get(key) is not None else default[key]

            group = sorted(group, key=x_of)
            xs = [x_of(c) for c in group]
            mu = [summary["rows"][c["name"]]["mu_delta_rel"] for c in group]
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.plot(range(len(xs)), [100 * v for v in mu], marker="o", label="mu-Delta-REL (%)")
            if "perplexity" in summary["tasks"]:
                ppl = [
                    100 * summary["rows"][c["name"]]["perplexity"].get("relative", float("nan"))
                    for c in group
                ]
                ax.plot(range(len(xs)), ppl, marker="s", label="perplexity rel. change (%)")
            ax.set_xticks(range(len(xs)), [str(x) for x in xs])
            ax.set_xlabel(key), ax.axhline(0, color="grey", lw=0.5), ax.legend()
            ax.set_title(f"{title} sweep")
            fig.tight_layout()
            name = f"sweep_{key}_{gi}.png"
            fig.savefig(folder / name, dpi=100)
            plt.close(fig)
            names.append(name)
    return names


# --- rendering -----------------------------------------------------------------------------


def _fmt(v, digits=4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.{digits}g}"


def main_table(summary) -> list[list[str]]:
    head = ["method", *summary["tasks"], "mu-Delta-REL"]
    rows = [head]
    for m in summary["methods"]:
        r = summary["rows"][m]
        cells = [m]
        for t in summary["tasks"]:
            c = r[t]
            s = _fmt(c["value"])
            if "ci" in c:
                s += f" ({c['diff']:+.3g} [{c['ci'][0]:+.3g}, {c['ci'][1]:+.3g}]){c['mark']}"
            cells.append(s)
        mu = r["mu_delta_rel"]
        cells.append("-" if mu is None else f"{100 * mu:+.2f}%")
        rows.append(cells)
    return rows


def md_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def html_table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def colored_sample(tokens: list[tuple]) -> str:
    """HTML: each token on a background whose colour shows log p_good - log p_bad."""
    spans = []
    for text, c in tokens:
        a = min(abs(c) / 4.0, 1.0)
        rgb = "0,128,0" if c > 0 else "200,0,0"
        spans.append(
            f'<span title="{c:+.2f}" style="background:rgba({rgb},{a:.2f})">'
            f"{html.escape(text)}</span>"
        )
    return "<p class='sample'>" + "".join(spans) + "</p>"


def write_report(cfg: ExperimentConfig, methods: dict[str, list[str]], log=print) -> Path:
    import pyarrow.parquet as pq

    from .corpus import read_split
    from .experiment import study_conditions

    folder = Path(cfg.workdir) / "report"
    folder.mkdir(parents=True, exist_ok=True)
    summary = summarize(cfg, methods)
    figures = plot_learning_curves(cfg, methods, summary, folder) + plot_sweeps(
        cfg, summary, folder
    )

    train_docs = [r["text"] for r in read_split(Path(cfg.workdir) / "corpus", "train")]
    train_grams = {g for t in train_docs for g in ngrams(t.split(), 8)}
    rng = np.random.default_rng(0)
    sample = [
        train_docs[i] for i in rng.permutation(len(train_docs))[: cfg.study.diagnostics_samples]
    ]
    diags = {
        "real (train split)": corpus_diagnostics(sample, train_grams, cfg.study.diagnostics_samples)
    }
    samples_html, samples_md = [], []
    for cond in study_conditions(cfg):
        path = Path(cfg.workdir) / "synthetic" / cond.name / "synthetic.parquet"
        if not path.is_file():
            continue
        rows = pq.read_table(path).to_pylist()
        texts = [r["text"] for r in rows]
        diags[cond.name] = corpus_diagnostics(
            texts, train_grams, cfg.study.diagnostics_samples, [r["ended_with_eos"] for r in rows]
        )
        samples_md.append(f"**{cond.name}**: {texts[0][:600]}")
        if cond.generate.decoding.strategy == "cd":
            for toks in contrast_samples(cfg, rows, cond.generate):
                samples_html.append(f"<h4>{html.escape(cond.name)}</h4>" + colored_sample(toks))
        else:
            samples_html.append(
                f"<h4>{html.escape(cond.name)}</h4><p class='sample'>"
                f"{html.escape(texts[0][:600])}</p>"
            )
    diag_keys = list(next(iter(diags.values())))
    diag_rows = [["corpus", *diag_keys]] + [
        [n, *[_fmt(d[k], 3) for k in diag_keys]] for n, d in diags.items()
    ]

    table = main_table(summary)
    sub_tables = {}
    for t, subs in summary["subtasks"].items():
        if len(subs) > 1:
            sub_tables[t] = [["subtask", *summary["methods"]]] + [
                [s, *[_fmt(v.get(m), 4) for m in summary["methods"]]]
                for s, v in sorted(subs.items())
            ]

    note = (
        "Values: mean over seeds of each seed's best checkpoint (mean-max). For methods: "
        "(difference from the baseline [95% paired-bootstrap CI]), * p < 0.05, ** p < 0.01, "
        f"B = {cfg.study.bootstrap_samples}. mu-Delta-REL: mean relative improvement over "
        "the non-perplexity tasks; perplexity improves when it falls."
    )
    md = [
        "# cdsynth study report",
        "",
        f"Workdir: `{cfg.workdir}`",
        "",
        "## Results",
        "",
        note,
        "",
        md_table(table),
        "",
    ]
    for t, rows in sub_tables.items():
        md += [f"### {t} by subtask", "", md_table(rows), ""]
    md += ["## Figures", ""] + [f"![{f}]({f})" for f in figures]
    md += ["", "## Synthetic corpora", "", md_table(diag_rows), "", "### Samples", ""] + samples_md
    write_text(folder / "report.md", "\n".join(md) + "\n")

    def img(name):
        data = base64.b64encode((folder / name).read_bytes()).decode()
        return f'<figure><img alt="{name}" src="data:image/png;base64,{data}"/></figure>'

    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:4px 8px;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}"
        "img{max-width:100%}.sample{font-family:monospace;white-space:pre-wrap}"
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>cdsynth report</title>"
        f"<style>{style}</style></head><body><h1>cdsynth study report</h1>",
        f"<p>Workdir: <code>{html.escape(cfg.workdir)}</code></p><h2>Results</h2>"
        f"<p>{html.escape(note)}</p>",
        html_table(table),
    ]
    for t, rows in sub_tables.items():
        parts += [f"<h3>{html.escape(t)} by subtask</h3>", html_table(rows)]
    parts += ["<h2>Figures</h2>"] + [img(f) for f in figures]
    parts += [
        "<h2>Synthetic corpora</h2>",
        html_table(diag_rows),
        "<h3>Samples</h3><p>CD samples: green tokens were favoured by the contrast "
        "(log p_GOOD &gt; log p_BAD), red ones disfavoured.</p>",
        *samples_html,
        "</body></html>",
    ]
    write_text(folder / "report.html", "\n".join(parts))
    write_json(folder / "summary.json", {"table": table, "summary": summary, "diagnostics": diags})
    log(md_table(table))
    log(f"report: {folder / 'report.md'} and {folder / 'report.html'}")
    return folder
