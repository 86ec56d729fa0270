"""Reading and WUG scores against transcriptions of the BabyLM 2025 pipeline's formulas
(babylm/evaluation-pipeline-2025: evaluation_pipeline/reading/run.py,
evaluation_pipeline/sentence_zero_shot/compute_results.py)."""

import hashlib
import math

import numpy as np
import pytest

from cdsynth.evaluate import reading, wug

from .conftest import SHARED_DATA

EYE = ["RTfirstfix", "RTfirstpass", "RTgopast", "RTrightbound"]
ET_FORMULA = (
    " ~ Subtlex_log10 + length + context_length + Subtlex_log10:length"
    " + Subtlex_log10:context_length + length:context_length"
)
SPR_FORMULA = (
    " ~ Subtlex_log10 + length + context_length + prev_length + prev_pred"
    " + Subtlex_log10:length + Subtlex_log10:context_length + Subtlex_log10:prev_length"
    " + Subtlex_log10:prev_pred + length:context_length + length:prev_length"
    " + length:prev_pred + context_length:prev_length + context_length:prev_pred"
    " + prev_length:prev_pred"
)
# reading_scores(small_items()), computed with statsmodels 0.15 + pandas 3.1 from the pipeline's
# code (the formulas above, `dropna` per fit, gain = (R2_m - R2_b) / (1 - R2_b) * 100)
PIPELINE_SMALL = {"eye_tracking": 59.61670646804009, "self_paced_reading": 26.026154301891047}


def small_items() -> list[dict]:
    """40 words with two-decimal values; Subtlex missing in two rows, prev_pred in four."""
    rng = np.random.default_rng(11)
    items = []
    for i in range(40):
        length = int(rng.integers(2, 9))
        pred = round(float(rng.gamma(4, 1.5)), 2)
        row = {
            "id": str(i),
            "subtask": "words",
            "pred": pred,
            "prev_pred": round(float(rng.gamma(4, 1.5)), 2) if i % 10 else None,
            "Subtlex_log10": round(float(rng.uniform(6, 14)), 2) if i not in (7, 23) else None,
            "length": length,
            "context_length": i % 9 + 1,
            "prev_length": int(rng.integers(1, 9)),
        }
        for k, m in enumerate(EYE):
            row[m] = round(150 + 9 * length + 4 * pred * (k + 1) + float(rng.normal(0, 25)), 2)
        row["self_paced_reading_time"] = round(260 + 3 * pred + float(rng.normal(0, 15)), 2)
        items.append(row)
    return items


def pipeline_scores(df) -> dict:
    """The pipeline's scores, transcribed: pandas `dropna` per fit, the formulas as design
    matrices (intercept, main effects, their pairwise products, then pred), OLS R^2."""

    def r2(temp, dv, terms):
        cols = [np.ones(len(temp))]
        for t in terms:
            a, *b = t.split(":")
            cols.append(temp[a].to_numpy() * (temp[b[0]].to_numpy() if b else 1.0))
        X, y = np.column_stack(cols), temp[dv].to_numpy()
        beta = np.linalg.lstsq(X, y, rcond=None)[0]
        return 1 - ((y - X @ beta) ** 2).sum() / ((y - y.mean()) ** 2).sum()

    def gain(dv, formula, base_cols):
        terms = [t.strip() for t in formula.replace("~", "").split("+")]
        b = r2(df[[dv, *base_cols]].dropna(), dv, terms)
        m = r2(df[["pred", dv, *base_cols]].dropna(), dv, [*terms, "pred"])
        return (m - b) / (1 - b) * 100

    base = ["Subtlex_log10", "length", "context_length"]
    eye = [gain(dv, ET_FORMULA, base) for dv in EYE]
    spr = gain("self_paced_reading_time", SPR_FORMULA, [*base, "prev_length", "prev_pred"])
    return {"eye_tracking": sum(eye) / len(eye), "self_paced_reading": spr}


def test_reading_scores_equal_the_pipeline_on_a_small_fixed_input():
    pd = pytest.importorskip("pandas")
    items = small_items()
    ours = reading.reading_scores(items)
    assert ours == pytest.approx(PIPELINE_SMALL, rel=1e-9)
    assert pipeline_scores(pd.DataFrame(items)) == pytest.approx(PIPELINE_SMALL, rel=1e-9)
    # the units of pred do not matter (nats or bits): R^2 is scale-free
    bits = [{**it, "pred": it["pred"] / math.log(2)} for it in items]
    assert reading.reading_scores(bits) == pytest.approx(ours, rel=1e-9)


def test_reading_scores_equal_statsmodels_formulas():
    pd = pytest.importorskip("pandas")
    smf = pytest.importorskip("statsmodels.formula.api")
    df = pd.DataFrame(small_items())
    base = ["Subtlex_log10", "length", "context_length"]
    eye = []
    for dv in EYE:
        b = smf.ols(dv + ET_FORMULA, data=df[[dv, *base]].dropna()).fit().rsquared
        m = smf.ols(dv + ET_FORMULA + " + pred", data=df[["pred", dv, *base]].dropna()).fit()
        eye.append((m.rsquared - b) / (1 - b) * 100)
    dv = "self_paced_reading_time"
    cols = [dv, *base, "prev_length", "prev_pred"]
    b = smf.ols(dv + SPR_FORMULA, data=df[cols].dropna()).fit().rsquared
    m = smf.ols(dv + SPR_FORMULA + " + pred", data=df[[*cols, "pred"]].dropna()).fit().rsquared
    want = {"eye_tracking": np.mean(eye), "self_paced_reading": (m - b) / (1 - b) * 100}
    assert reading.reading_scores(small_items()) == pytest.approx(want, rel=1e-9)


class FixedScorer:
    """log p of a continuation: a fixed function of its text (no model needed)."""

    def __init__(self):
        self.seen = []

    def continuation_logprobs(self, pairs):
        self.seen += pairs
        return np.array([-(1 + len(c) % 7 + 0.5 * len(x)) for c, x in pairs])

    def sentence_logprobs(self, sentences):
        digest = [hashlib.md5(s.encode()).hexdigest() for s in sentences]
        return np.array([-(int(d, 16) % 1000) / 100 for d in digest])


def test_reading_items_carry_what_a_refit_needs(tmp_path):
    header = ",".join(reading.COLUMNS)
    lines = [header]
    rng = np.random.default_rng(3)
    for i in range(80):
        item = "" if i == 4 else f"Mia saw {'the ' * (i % 4)}big"
        prev_item = "None" if i == 9 else ("" if i % 6 == 0 else f"Mia saw {'a ' * (i % 3)}")
        vals = [rng.uniform(6, 14), i % 5 + 2, i % 7 + 1, i % 4 + 1]
        vals += list(200 + 40 * rng.random(5))
        if i == 11:
            vals[0] = ""  # Subtlex missing: the row leaves every fit
        lines.append(",".join([item, "dog", prev_item, "saw", *map(str, vals)]))
    (tmp_path / "reading.csv").write_text("\n".join(lines) + "\n")
    rows = reading.load(tmp_path)
    scorer = FixedScorer()
    res = reading.score(scorer, rows)
    assert res.metric == "reading_gain" and set(res.subtasks) == {
        "eye_tracking",
        "self_paced_reading",
    }
    assert res.score == pytest.approx(np.mean(list(res.subtasks.values())))
    assert reading.reading_scores(res.items) == res.subtasks
    # an empty item is the pipeline's fillna("None"); a prev_item pandas reads as NaN
    # ("" or "None") has no prev_pred
    assert ("None", " dog") in scorer.seen
    assert res.items[4]["pred"] == pytest.approx(1 + 4 % 7 + 0.5 * 4)
    assert res.items[9]["prev_pred"] is None and res.items[6]["prev_pred"] is None
    assert res.items[1]["prev_pred"] == pytest.approx(1 + len("Mia saw a ") % 7 + 0.5 * 4)
    assert res.items[11]["Subtlex_log10"] is None
    # a resample of the rows refits (as the bootstrap does)
    idx = np.random.default_rng(0).integers(0, len(res.items), len(res.items))
    again = reading.reading_scores([res.items[i] for i in idx])
    assert all(np.isfinite(v) for v in again.values())


@pytest.mark.skipif(not (SHARED_DATA / "reading").is_dir(), reason="shared data not present")
def test_real_reading_file_is_read_as_pandas_reads_it():
    pd = pytest.importorskip("pandas")
    path = SHARED_DATA / "reading" / "reading_data.csv"
    scorer = FixedScorer()
    res = reading.score(scorer, reading.load(path.parent))
    df = pd.read_csv(path, dtype={"item": str})
    df["item"] = df["item"].fillna("None")
    lp = dict(zip(scorer.seen, scorer.continuation_logprobs(scorer.seen), strict=True))
    df["pred"] = [-lp[(r.item, " " + r.word)] for r in df.itertuples()]
    df["prev_pred"] = [
        -lp[(r.prev_item, " " + r.prev_word)] if isinstance(r.prev_item, str) else math.nan
        for r in df.itertuples()
    ]
    assert res.subtasks == pytest.approx(pipeline_scores(df), rel=1e-9)


def test_wug_equals_the_pipeline_on_fixed_log_probs():
    torch = pytest.importorskip("torch")
    from scipy.stats import spearmanr

    rows = [
        {"sentences": f"A wug is {w}ity.\tA wug is {w}ness.", "ratio": r}
        for w, r in [("blick", 0.9), ("dax", 0.2), ("fep", 0.55), ("zib", 0.1), ("tiv", 0.7)]
    ]
    res = wug.score(FixedScorer(), {"wug_adj_nominalization": rows})
    # rank_and_evaluate_wug: softmax over the stacked log-probs, P(first), spearmanr(...)[0]
    sents = [s for r in rows for s in r["sentences"].split("\t")]
    stacked = torch.tensor(FixedScorer().sentence_logprobs(sents).reshape(-1, 2))
    probs = torch.nn.functional.softmax(stacked, dim=1)[:, 0]
    want = spearmanr(probs.tolist(), [r["ratio"] for r in rows])[0]
    assert res.score == pytest.approx(want, abs=1e-12)
    assert [it["p_first"] for it in res.items] == pytest.approx(probs.tolist(), abs=1e-12)
    # the paper's WUG number: the share of items whose first form is chosen (torch.max)
    chosen = torch.max(stacked, dim=1)[1]
    assert res.extra["first_form_share"] == pytest.approx((chosen == 0).double().mean().item())
    assert 0 < res.extra["first_form_share"] < 1 and len(set(probs.tolist())) == len(rows)
