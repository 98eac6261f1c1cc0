# Two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
export MLFLOW_DISABLE_TELEMETRY := true
export BENTOML_DO_NOT_TRACK := true
export DO_NOT_TRACK := true
export UV_PYTHON := $(PYTHON)
# Compiled once at install: without it every `clv` command spends ~2 s compiling pandas, ibis and friends.
export UV_COMPILE_BYTECODE := 1

.PHONY: install demo test test-fast bench bench-large bench-quality bench-training bench-serving bench-service bench-fuzz bench-cli bench-spark lint format clean

$(VENV)/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.5"
	$(UV) sync --frozen --extra dev --extra spark
	@touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/clv demo

test: install
	$(VENV)/bin/pytest -q

# Unit tests only: no Spark, no subprocess, no server (`pytest -m integration` runs the rest), no whole training
# run (`-m slow`), 5 examples per leakage property instead of 30.
test-fast: install
	CLV_PROPERTY_EXAMPLES=5 $(VENV)/bin/pytest -q -m "not integration and not slow"

bench: install
	$(VENV)/bin/python benchmarks/features.py --rows 1000000,10000000

bench-large: install
	$(VENV)/bin/python benchmarks/features.py --rows 100000000 --skip-pandas --repeat 1 --data bench-data \
		--only "clv features,score" --memory-limit 4GB

bench-quality: install
	$(VENV)/bin/python benchmarks/quality.py --customers 50000

bench-training: install
	$(VENV)/bin/python benchmarks/training.py --customers 1000000

bench-serving: install
	$(VENV)/bin/python benchmarks/serving.py

bench-service: install
	$(VENV)/bin/python benchmarks/service_load.py

bench-fuzz: install
	$(VENV)/bin/python benchmarks/fuzz.py --examples 200

bench-cli: install
	$(VENV)/bin/python benchmarks/cli.py --customers 100000

bench-spark: install
	$(VENV)/bin/python benchmarks/spark.py --rows 1000000,10000000

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
