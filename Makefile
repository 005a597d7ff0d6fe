# Lingua Comune: two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: run test setup index eval bench clean

run: setup index
	$(BIN)/python app.py

test: setup index
	$(BIN)/python -m pytest

setup: $(STAMP)

# torch first: the CPU wheel that lies on disk, so pip never pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Incremental: embeds only new or changed files; a no-op when the index is current.
index: setup
	$(BIN)/assistant ingest

eval: setup index
	$(BIN)/python -m evals.run

bench: setup index
	$(BIN)/python -m evals.bench

clean:
	rm -rf data
