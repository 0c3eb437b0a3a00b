# Two commands for a newcomer: `make demo` and `make test`. Each builds .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: demo test lint format bench bench-quick bench-more bench-cluster clean stack-up stack-down stack-status cluster-up cluster-down cluster-status image compose-up compose-down

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# The first command that needs a server starts the local one (SQLite under PREFECT_HOME); it keeps
# running for the next ones: `.venv/bin/autoagent server stop` ends it.
demo: $(STAMP)
	$(BIN)/autoagent validate examples/demo.yaml
	$(BIN)/autoagent run examples/demo.yaml --param topic=durability --auto-approve

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The self-hosted stack, natively: PostgreSQL database, API, services (via Redis), process worker.
stack-up: $(STAMP)
	$(BIN)/python infra/prefect-server/stack.py up

stack-down: $(STAMP)
	$(BIN)/python infra/prefect-server/stack.py down

# Seven hosts (network namespaces, as root): PostgreSQL+Redis, two APIs behind HAProxy, the
# services, two workers (README, "Several hosts").
cluster-up: $(STAMP)
	$(BIN)/python infra/prefect-server/cluster.py up

cluster-down: $(STAMP)
	$(BIN)/python infra/prefect-server/cluster.py down

cluster-status: $(STAMP)
	$(BIN)/python infra/prefect-server/cluster.py status

stack-status: $(STAMP)
	$(BIN)/python infra/prefect-server/stack.py status

# Docker: the image (from a debootstrap rootfs, no registry) and the same stack in containers.
image: $(STAMP)
	$(BIN)/python infra/docker/image.py build --infra

compose-up: $(STAMP)
	$(BIN)/python infra/prefect-server/compose.py up

compose-down: $(STAMP)
	$(BIN)/python infra/prefect-server/compose.py down

# AutoAgent side by side with plain Prefect, Temporal and DBOS (under 10 minutes); its last two
# lines are the summary. `bench-quick`: small scenarios, for development; `bench-more`: the CLI's
# latency, the stack's start, validation, an agent's turns and the server's share per step.
bench: $(BENCH_STAMP)
	$(BIN)/python bench/overhead.py

bench-quick: $(BENCH_STAMP)
	$(BIN)/python bench/overhead.py --quick --runs 1 --resume-runs 1

bench-more: $(BENCH_STAMP)
	$(BIN)/python bench/cli_latency.py
	$(BIN)/python bench/stack_start.py
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/agent_turns.py
	$(BIN)/python bench/server_share.py

# Missions through the multi-host cluster with one worker host, then two (root).
bench-cluster: $(BENCH_STAMP)
	$(BIN)/python bench/cluster_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
