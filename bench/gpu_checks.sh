#!/usr/bin/env bash
# The GPU checks of issues 12, 20 and 21, in one prepared script: every stage on CUDA, timed
# and tested, in one call of at most 8 minutes.
#
#   bash bench/gpu_checks.sh prepare            # HERE, on a dev machine (network, ../shared)
#   bash bench/gpu_checks.sh run [STEP ...]     # ON THE DEVICE; every step, or those named
#   bash bench/gpu_checks.sh dry [STEP ...]     # HERE: every step on the CPU at tiny shapes
#
# `prepare` fills runs/gpu-carry/ (git-ignored, as all of runs/; ~20 MB):
#   runs/gpu-carry/data.tar.gz  ../shared/data/{corpus, blimp_filtered, blimp_supplement,
#                               wug_adj, reading}: the real text and eval data the e2e run and
#                               the BLiMP bench read (../shared does not travel to the device);
#                               `run` unpacks it to runs/gpu-data/ there (paper-shrunk.yaml's)
#   runs/gpu-carry/whl/         lm-eval and what it needs that the device image lacks (WHEELS
#                               and SOURCE_ONLY below), installed there with --no-deps
# Then, from a session with the device tool (one call, the folder carried):
#   run(command="bash bench/gpu_checks.sh run", carry=["runs/gpu-carry"], timeout_s=600)
# A second, shorter call can name the steps the first had no time for, e.g.
#   run(command="GPU_CHECKS_BUDGET=300 bash bench/gpu_checks.sh run env generate e2e", ...)
# `dry` runs the same steps with the same scripts on this machine's CPU at tiny shapes (the
# CUDA tests skip, e2e only checks its config), so that the device run fails on no typo.
#
# Steps, in this order (priority: correctness first, then the issues' bars, then e2e):
#   env       device line, versions, bf16 matmul peak (8192^3) and copy bandwidth
#   tests     pytest tests/test_cuda.py (training, LeanLlama, generation at the paper's shapes,
#             scorer on CUDA)
#   generate  bench/generate_throughput.py --device cuda: paper-good pair, batch 256, 20 + 400
#             tokens; (a), (f) HF generate (plain; static cache, compiled), (c) the paper's loop,
#             (d) ours, (e) the generic engine, (g) ours with the static-shape step captured as
#             a CUDA graph (generate.step_shape=static), alternated medians; the bandwidth bound
#   train     bench/train_throughput.py --device cuda, paper-good 12 x 768 x 1024, vs Trainer,
#             then a profile of 5 of our steps (top kernels, the step's parts)
#   train-chunked  the same with train.loss=chunked (the output layer and loss over chunks of
#             rows, never the whole logits), and a profile of 5 of its steps; a step of its
#             own, so that a cold compile running long cannot cost the figures of `train`
#   eval      bench/eval_throughput.py --device cuda, paper-good, BLiMP filtered, vs lm-eval HFLM
#   e2e       configs/paper-shrunk.yaml end to end (corpus .. report) on the device
#   train-hfc the Trainer with torch_compile (not run unless named: a second cold compile)
# Each step runs under its own time limit, cut to what is left of GPU_CHECKS_BUDGET (seconds,
# default 470: the whole command ends inside 8 minutes); a step that would get under 30 s is
# skipped. A failing step does not stop the next. Every step's log starts with the device line.
#
# Results ($OUT, or /tmp/gpu-checks-out without one; at most 3 files, rewritten after each step,
# so a call cut off at its limit still brings back what finished):
#   $OUT/summary.md     per step: status, seconds, and the tail of its log (the tables)
#   $OUT/results.json   the benches' --json figures and the step statuses
#   $OUT/logs.tar.gz    every log in full, the e2e run's report, metrics and manifests
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
CARRY=$ROOT/runs/gpu-carry
DATA=$ROOT/runs/gpu-data  # unpacked there on the device (not carried: the tarball is)
PY=${PYTHON:-python3}

# lm-eval and what it needs that the device image lacks (KINDS.md's package list), pinned to
# versions whose declared requirements agree with each other; installed there with --no-deps
WHEELS=(
    lm-eval==0.4.13 datasets==5.2.0 evaluate==0.4.6 dill==0.4.1 multiprocess==0.70.19
    pytablewriter==1.2.1 dataproperty==1.1.1 mbstrdecoder==1.1.5 pathvalidate==3.3.1
    tabledata==1.3.5 tcolorpy==0.1.7 typepy==1.3.4 chardet==5.2.0 pytz==2025.2
    rouge-score==0.0.4 nltk==3.10.4 defusedxml==0.7.1 more-itertools==11.2.1
)
SOURCE_ONLY=(sqlitedict==2.1.0 word2number==1.1) # no wheels published: built here

prepare() {
    local shared=${SHARED_DATA:-$ROOT/../shared/data}
    [ -d "$shared/corpus" ] || { echo "no $shared/corpus (set SHARED_DATA)" >&2; exit 2; }
    mkdir -p "$CARRY/whl"
    local parts=(corpus blimp_filtered blimp_supplement wug_adj reading)
    tar czf "$CARRY/data.tar.gz.tmp" -C "$shared" "${parts[@]}" &&
        mv "$CARRY/data.tar.gz.tmp" "$CARRY/data.tar.gz" || exit 1
    rm -f "$CARRY"/whl/*.whl # one version of each: two would stop the install there
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$CARRY/whl" "${WHEELS[@]}" || exit 1
    "$PY" -m pip wheel -q --no-deps -w "$CARRY/whl" "${SOURCE_ONLY[@]}" || exit 1
    local n
    n=$(ls "$CARRY"/whl/*.whl | wc -l)
    [ "$n" -eq $((${#WHEELS[@]} + ${#SOURCE_ONLY[@]})) ] ||
        { echo "expected $((${#WHEELS[@]} + ${#SOURCE_ONLY[@]})) wheels, got $n" >&2; exit 1; }
    du -sh "$CARRY"/data.tar.gz "$CARRY"/whl
    local tree
    tree=$( (git ls-files; git ls-files --others --exclude-standard) | tr '\n' '\0' |
        du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
    echo "carry: runs/gpu-carry, $(du -sm "$CARRY" | cut -f1) MiB, + working tree" \
        "$((tree / 1048576)) MiB (a call's limit: 64 MiB)"
}

OUTDIR=${OUT:-/tmp/gpu-checks-out}
W=/tmp/gpu-checks     # logs and JSON while running; packed into $OUTDIR after each step
BUDGET=${GPU_CHECKS_BUDGET:-470}
DRY=0 # 1: `dry`, the steps on the CPU at tiny shapes
START=$(date +%s)
STATUS=()

device_line() {
    nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo "no nvidia-smi"
}

left() { echo $((BUDGET - ($(date +%s) - START))); }

pack() {
    # summary.md, results.json, logs.tar.gz: written to temp names, then renamed
    {
        echo "# GPU checks ($(date -u +%FT%TZ)); device: $(device_line)"
        for f in "$W"/*.log; do
            [ -f "$f" ] || continue
            echo
            echo "## $(basename "$f" .log) (last lines of its log)"
            echo '```'
            tail -n 40 "$f" | cut -c1-400
            echo '```'
        done
        cost_section
        echo
        echo "device: $(device_line); budget ${BUDGET}s, $(($(date +%s) - START))s used"
        echo
        echo "| step | status | seconds |"
        echo "|---|---|---|"
        for s in "${STATUS[@]}"; do echo "$s"; done
    } >"$OUTDIR/summary.md.tmp" && mv "$OUTDIR/summary.md.tmp" "$OUTDIR/summary.md"
    "$PY" - "$W" "$OUTDIR/results.json.tmp" "${STATUS[@]}" <<'EOF' &&
import json, sys
from pathlib import Path
w, out, rows = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
res = {"steps": [r.strip("| ").split(" | ") for r in rows]}
for f in sorted(w.glob("*.json")):
    try:
        res[f.stem] = json.loads(f.read_text())
    except ValueError as e:
        res[f.stem] = f"unreadable: {e}"
Path(out).write_text(json.dumps(res, indent=1))
EOF
        mv "$OUTDIR/results.json.tmp" "$OUTDIR/results.json"
    tar czf "$OUTDIR/logs.tar.gz.tmp" -C "$W" . 2>/dev/null &&
        mv "$OUTDIR/logs.tar.gz.tmp" "$OUTDIR/logs.tar.gz"
}

# The paper study's device time from the measured figures (deliverable 3 of issue 12): the
# study graph of configs/paper.yaml (131 training runs of 8000 x 256 x 1024 tokens, 8
# synthetic corpora, 130 evaluated runs x 16 checkpoints) over the tokens/s and pairs/s
# measured here. On an H100 training (arithmetic-bound) runs at about an H200's rate, decoding
# (memory-bound) up to ~1.4x slower (H200.md: 4.8 vs 3.35 TB/s).
cost_section() {
    [ -f "$W/train.json" ] || [ -f "$W/eval.json" ] || [ -f "$W/generate.json" ] || return 0
    echo
    echo "## cost of the paper study, from the figures above"
    "$PY" - "$W" <<'EOF' 2>&1 | cut -c1-400
import json, sys
from pathlib import Path

from cdsynth.config import load_config
from cdsynth.graph import build_graph

w = Path(sys.argv[1])
cfg = load_config("configs/paper.yaml", [])
graph = build_graph(cfg)
trains = [s.config for s in graph if s.kind == "train"]
gens = [s.config for s in graph if s.kind == "generate"]
evals = [s for s in graph if s.kind == "eval"]
ckpts = cfg.train.steps // cfg.train.checkpoint_every


def read(name):
    f = w / f"{name}.json"
    return json.loads(f.read_text()) if f.is_file() else None


train = read("train")
tok_s = train and train["tokens_per_s"].get("cdsynth")
if tok_s:
    tokens = sum(t["steps"] * t["batch_size"] * t["block_len"] for t in trains)
    h = tokens / tok_s / 3600
    print(
        f"- training: {len(trains)} runs, {tokens / 1e9:.0f}B tokens at {tok_s:,.0f} tokens/s "
        f"(paper-good; the one 6 x 256 run counted as paper-good): {h:,.1f} GPU-hours "
        f"({h / len(trains):.2f} per run)"
    )
per_prefix = gens[0]["completions"] * gens[0]["new_tokens"] if gens else 0
gen = read("generate")
rate = None
if gen:
    rate = gen.get("cdsynth_tokens_per_s") or (gen.get("tokens_per_s") or {}).get("d")
if rate:
    print(
        f"- generation: {len(gens)} corpora x N prefixes x {per_prefix} new tokens at "
        f"{rate:,.0f} tokens/s (CD, two models): {1e8 / rate / 3600:.2f} GPU-hours per 100M "
        f"generated tokens, {len(gens) * per_prefix / rate / 3600:.2e} x N in all "
        "(N: documents in the seeds split, one prefix each)"
    )
else:
    print(f"- generation: not measured yet ({len(gens)} corpora x N prefixes x {per_prefix})")
ev = read("eval")
if ev:
    pps = ev["pairs_per_s"]["cdsynth"]
    n = len(evals) * ckpts
    print(
        f"- evaluation: {len(evals)} runs x {ckpts} checkpoints = {n} evaluations; BLiMP "
        f"filtered alone (49,088 pairs) at {pps:,.0f} pairs/s: {n * 49088 / pps / 3600:,.1f} "
        "GPU-hours (the other suites come on top)"
    )
EOF
}

# step NAME LIMIT_S COMMAND...: run COMMAND under min(LIMIT, what is left), log to $W/NAME.log
step() {
    local name=$1 limit=$2
    shift 2
    local remaining
    remaining=$(($(left) - 5))
    [ "$remaining" -lt "$limit" ] && limit=$remaining
    if [ "$limit" -lt 30 ]; then
        STATUS+=("| $name | skipped: no time left | 0 |")
        echo "[$name] skipped: no time left"
        pack
        return
    fi
    local log=$W/$name.log t0 rc
    t0=$(date +%s)
    echo "[$name] start (limit ${limit}s)"
    {
        echo "device: $(device_line)"
        echo "step $name, limit ${limit}s, $(date -u +%FT%TZ)"
        echo "+ $*"
    } >"$log"
    if declare -F "$1" >/dev/null; then # a function of this script: through bash
        timeout -k 10 "$limit" bash -c '"$@"' _ "$@" >>"$log" 2>&1
    else
        timeout -k 10 "$limit" "$@" >>"$log" 2>&1
    fi
    rc=$?
    local dt=$(($(date +%s) - t0)) what
    case $rc in
        0) what=ok ;;
        124 | 137) what="TIMED OUT at ${limit}s" ;;
        99) what="skipped (see its log)" ;;
        *) what="FAILED (exit $rc)" ;;
    esac
    STATUS+=("| $name | $what | $dt |")
    echo "[$name] $what in ${dt}s"
    pack
}

env_check() {
    nvidia-smi || true
    "$PY" - <<'EOF'
import importlib, sys, time
import torch
for m in ("torch", "transformers", "accelerate", "triton", "lm_eval", "pytest"):
    try:
        print(m, importlib.import_module(m).__version__)
    except Exception as e:  # noqa: BLE001
        print(m, "MISSING", e)
if not torch.cuda.is_available():
    print("no CUDA device: nothing more to measure")
    sys.exit(0)
p = torch.cuda.get_device_properties(0)
print(f"{p.name}: {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs, "
      f"capability {p.major}.{p.minor}, bf16 {torch.cuda.is_bf16_supported()}")
n = 8192
g = torch.Generator(device="cuda").manual_seed(0)
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16, generator=g)
b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16, generator=g)
for _ in range(3):
    a @ b
torch.cuda.synchronize()
t = time.perf_counter()
for _ in range(10):
    a @ b
torch.cuda.synchronize()
print(f"bf16 {n}^3 matmul, random data: {2 * n**3 * 10 / (time.perf_counter() - t) / 1e12:.0f} TFLOP/s")
x = torch.empty(2**30, dtype=torch.uint8, device="cuda").random_()
y = torch.empty_like(x)
for _ in range(3):
    y.copy_(x)
torch.cuda.synchronize()
t = time.perf_counter()
for _ in range(10):
    y.copy_(x)
torch.cuda.synchronize()
print(f"device copy: {2 * x.numel() * 10 / (time.perf_counter() - t) / 1e12:.2f} TB/s (read + write)")
EOF
}

e2e() {
    local wd=$ROOT/runs/paper-shrunk
    # E2E_OVERRIDES: extra key=value overrides (a CPU smoke run of this step uses them)
    # shellcheck disable=SC2086
    "$PY" -m cdsynth.cli experiment run configs/paper-shrunk.yaml ${E2E_OVERRIDES:-}
    local rc=$?
    # shellcheck disable=SC2086
    "$PY" -m cdsynth.cli experiment status configs/paper-shrunk.yaml ${E2E_OVERRIDES:-}
    mkdir -p "$W/e2e"
    # small files only: metrics, manifests, eval results, the report (no weights, no corpus)
    (cd "$wd" && find . \( -regex '\./runs/[^/]*/step_[0-9]*' -o -path ./corpus -o -path \
        ./blocks \) -prune -o -type f \
        \( -name '*.json' -o -name '*.jsonl' -o -name '*.md' -o -name '*.html' -o -name '*.png' \) \
        -size -2M -print | tar czf "$W/e2e/paper-shrunk.tar.gz" -T - 2>/dev/null)
    for f in "$wd"/runs/*/metrics.jsonl; do
        [ -f "$f" ] && echo "$f: $(head -1 "$f" | cut -c1-160) ... $(tail -1 "$f" | cut -c1-200)"
    done
    ls "$wd"/synthetic/*/synthetic.parquet 2>/dev/null
    [ -f "$wd/report/report.md" ] && head -c 3000 "$wd/report/report.md"
    return $rc
}

generate_bench() {
    if [ "$DRY" = 1 ]; then
        "$PY" bench/generate_throughput.py --batch 4 --prefix 4 --new 12 --hf-new 6 \
            --vocab 512 --methods afcdeg --repeats 2 --json "$W/generate.json"
        return
    fi
    "$PY" bench/generate_throughput.py --device cuda --preset paper-good --batch 256 \
        --prefix 20 --new 400 --hf-new 100 --repeats 3 --json "$W/generate.json"
}

run_steps() {
    [ "$(uname -m)" = x86_64 ] || echo "warning: $(uname -m), not x86_64"
    command -v nvidia-smi >/dev/null || echo "warning: no nvidia-smi: not the device machine?"
    rm -rf "$W" && mkdir -p "$W" "$OUTDIR"
    export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    export PYTHONPATH=$ROOT/src${PYTHONPATH:+:$PYTHONPATH}
    # the wheels are the device's (Python 3.12): a dry run here installs them as such
    local site=/tmp/site pin=()
    [ "$DRY" = 1 ] && site=/tmp/gpu-checks-dry-site pin=(--python-version 3.12 --only-binary=:all:)
    if [ -d $site/lm_eval ]; then # a second call on the same (warm) machine
        export PYTHONPATH=$PYTHONPATH:$site
    elif ls "$CARRY"/whl/*.whl >/dev/null 2>&1; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            "${pin[@]}" --target $site "$CARRY"/whl/*.whl && export PYTHONPATH=$PYTHONPATH:$site
    else
        echo "warning: no wheels in runs/gpu-carry/whl (run prepare here first): lm-eval missing"
    fi
    if [ -f "$CARRY/data.tar.gz" ] && [ ! -d "$DATA/corpus" ]; then
        mkdir -p "$DATA" && tar xzf "$CARRY/data.tar.gz" -C "$DATA"
    fi
    [ -d "$DATA/corpus" ] || echo "warning: no $DATA/corpus (run prepare here first)"

    export ROOT CARRY DATA PY W DRY
    export -f device_line env_check e2e generate_bench
    local steps=("$@")
    [ ${#steps[@]} -eq 0 ] && steps=(env tests generate train train-chunked eval e2e)
    # the device's shapes, or tiny ones on this CPU (`dry`)
    local dev=cuda train_args eval_args
    train_args=(--preset paper-good --seq 1024 --batch 32 --steps 30 --skip 10 --profile 5)
    eval_args=(--preset paper-good --paradigms 20 --batch 64,256,1024 --tokens 16384,65536
        --repeats 3)
    if [ "$DRY" = 1 ]; then
        dev=cpu
        train_args=(--preset test-micro --vocab 512 --seq 64 --batch 4 --steps 5 --skip 2
            --profile 2)
        eval_args=(--preset test-micro --vocab 512 --paradigms 1 --batch 16 --tokens 1024
            --repeats 1)
    fi
    for s in "${steps[@]}"; do
        case $s in
            env) step env 60 env_check ;;
            tests) step tests 150 "$PY" -m pytest -v -p no:cacheprovider -rfEs --durations=10 \
                tests/test_cuda.py ;;
            generate) step generate 170 generate_bench ;;
            train) step train 120 "$PY" bench/train_throughput.py --device $dev \
                "${train_args[@]}" --runs cdsynth,hf --json "$W/train.json" ;;
            train-chunked) step train-chunked 100 "$PY" bench/train_throughput.py --device $dev \
                "${train_args[@]}" --runs cdsynth-chunked --profile-loss chunked \
                --json "$W/train-chunked.json" ;;
            eval) step eval 100 "$PY" bench/eval_throughput.py --device $dev "${eval_args[@]}" \
                --data "$DATA" --blimp "$DATA/blimp_filtered" --json "$W/eval.json" ;;
            e2e)
                if [ "$DRY" = 1 ]; then # the config and its data load; nothing runs
                    step e2e 60 "$PY" -m cdsynth.cli experiment status configs/paper-shrunk.yaml
                else
                    step e2e 300 e2e
                fi
                ;;
            train-hfc) step train-hfc 200 "$PY" bench/train_throughput.py --device $dev \
                "${train_args[@]}" --runs hf-compile --json "$W/train-hfc.json" ;;
            *) echo "unknown step '$s'" >&2 ;;
        esac
    done
    echo
    cat "$OUTDIR/summary.md"
}

case ${1:-} in
    prepare) prepare ;;
    run)
        shift
        run_steps "$@"
        ;;
    dry)
        shift
        DRY=1
        OUTDIR=${OUT:-/tmp/gpu-checks-dry-out}
        W=/tmp/gpu-checks-dry
        run_steps "$@"
        ;;
    *)
        sed -n '2,24p' "$0"
        exit 2
        ;;
esac
