# sam3-service: `make serve` runs the service, `make test` runs the whole suite.
# Both create .venv first. torch and torchvision are pinned to the builds on this machine's disk.

VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv system-deps serve cluster cluster-status cluster-down test test-fast lint format \
	bench clean

venv: $(STAMP)

# The first run takes a few minutes: each step says what it does, and pip shows its progress.
$(STAMP): pyproject.toml
	@echo "==> [1/4] Creating the virtual environment $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> [2/4] Upgrading pip"
	$(BIN)/pip install --progress-bar on --upgrade pip
	@echo "==> [3/4] Installing torch and torchvision (the largest step)"
	$(BIN)/pip install --progress-bar on torch==2.14.1 torchvision==0.29.1
	@echo "==> [4/4] Installing sam3-service and its tools"
	$(BIN)/pip install --progress-bar on -e '.[dev]'
	touch $(STAMP)
	@echo "==> Ready: the command is $(BIN)/sam3-service (or run: . $(VENV)/bin/activate)"

serve: $(STAMP)
	SAM3_MODEL_FALLBACK_TO_TINY=$${SAM3_MODEL_FALLBACK_TO_TINY:-true} $(BIN)/sam3-service serve

# The local cluster under supervisor (deploy/cluster/cluster.py): nginx on 127.0.0.1:8080,
# 3 API replicas, 2 workers, S3; on this machine's PostgreSQL, Redis and RabbitMQ.
cluster: $(STAMP)
	$(BIN)/python deploy/cluster/cluster.py up

cluster-status: $(STAMP)
	@$(BIN)/python deploy/cluster/cluster.py status

cluster-down: $(STAMP)
	$(BIN)/python deploy/cluster/cluster.py down

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks deploy
	$(BIN)/ruff format --check src tests benchmarks deploy
	$(BIN)/lint-imports
	$(BIN)/mypy src/sam3_service

# The Debian packages the tests drive (Chromium, nginx, Prometheus): installed when root.
system-deps:
	scripts/system-deps.sh

test: system-deps lint
	node --test tests/web/js/
	$(BIN)/pytest

test-fast: $(STAMP)
	$(BIN)/pytest -m "not postgres and not redis and not amqp and not s3 and not browser and not slow and not deploy"

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks deploy
	$(BIN)/ruff check --fix src tests benchmarks deploy

bench: $(STAMP)
	$(BIN)/python benchmarks/latency.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
