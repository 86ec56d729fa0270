# The two commands: `make demo` and `make test`. Each sets up .venv on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-avx2 test-slow test-slurm test-all bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cdsynth experiment run configs/demo.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q

# the tests whose numbers depend on the CPU's vector units (engines, kernels, the decode step,
# generation, the corpus pins, training), with torch, oneDNN and our kernel held to AVX2: what
# an AVX2-only CPU (AMD Zen 2/3, Intel client chips) runs, on whatever CPU this is
ISA_TESTS := tests/test_generate.py tests/test_generic_engine.py tests/test_decode_step.py \
	tests/test_corpus_bytes.py tests/test_train.py tests/test_dropout.py tests/test_evaluate.py
# (tests/conftest.py gives each capability its own inductor cache)
test-avx2: $(STAMP)
	ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 $(BIN)/python -m pytest -q $(ISA_TESTS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow || [ $$? -eq 5 ]

# The Slurm tests on a single-node Slurm, installed and started here where none answers (as
# root, Debian: scripts/slurm-single-node.sh); where it cannot be, the tests skip and say why.
test-slurm: $(STAMP)
	scripts/slurm-single-node.sh status || scripts/slurm-single-node.sh start || true
	$(BIN)/python -m pytest -q -m slurm tests/test_slurm.py -rs

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow or not slow"

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/generate_throughput.py --repeats 5
	$(BIN)/python bench/attention_bandwidth.py
	$(BIN)/python bench/eval_throughput.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

clean:
	rm -rf runs bench/out .pytest_cache
