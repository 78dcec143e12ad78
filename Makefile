# Navigator's developer entry points. `make help` lists them.
#
# Every tool a target needs is installed by the target itself from the package
# registries (apt, PyPI, the Go module proxy, Maven Central); heavy builds are
# cached by version under $(NAVIGATOR_CACHE).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export NAVIGATOR_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/navigator
UV ?= uv
PYTEST_TIMEOUT ?= 600
# Which test tiers `make test` runs (all of them fit in CI's budget today).
TEST_TIERS ?= unit integration e2e
PYTEST_ARGS ?=

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: tools
tools: ## Install system packages and uv (idempotent)
	@bash hack/install-tools.sh

.PHONY: deps
deps: tools ## Create the virtualenv from uv.lock
	@$(UV) sync --locked --quiet

.PHONY: binaries
binaries: tools ## Build (or reuse cached) etcd and Kubernetes control-plane binaries
	@bash hack/build-binaries.sh all

.PHONY: helm
helm: tools ## Build (or reuse cached) helm, which renders and lints the operator's chart
	@bash hack/build-binaries.sh helm

.PHONY: cassandra
cassandra: ## Fetch (or reuse cached) Cassandra and Jolokia; build the local images
	@bash hack/fetch-jolokia.sh
	@bash hack/build-images.sh

.PHONY: test
test: deps binaries cassandra ## Install everything the tests need, then run every tier (e2e: the representative subset)
	@E2E_MARK='e2e and not full and not chaos' bash hack/run-tests.sh $(TEST_TIERS)

.PHONY: e2e
e2e: deps binaries cassandra ## Run the whole end-to-end tier (real Cassandra, incl. `full` tests) and print build/e2e/report.md
	@E2E_MARK='e2e and not chaos' bash hack/run-tests.sh e2e
	@cat build/e2e/report.md 2>/dev/null || true

.PHONY: chaos
chaos: deps binaries cassandra ## The fault suite and a seeded mutation run (NAVIGATOR_CHAOS_MINUTES, default 30; NAVIGATOR_CHAOS_SEED replays)
	@$(UV) run --locked pytest -m e2e -s tests/e2e/operator/test_faults.py tests/e2e/operator/test_mutation_run.py
	@cat build/e2e/report.md 2>/dev/null || true

.PHONY: unit
unit: deps helm ## Run the unit tests only
	@bash hack/run-tests.sh unit

.PHONY: lint
lint: deps ## ruff (lint + format check) and mypy --strict on src/
	$(UV) run --locked ruff check src tests
	$(UV) run --locked ruff format --check src tests
	$(UV) run --locked mypy

.PHONY: fmt
fmt: deps ## Format the code
	$(UV) run --locked ruff format src tests
	$(UV) run --locked ruff check --fix src tests

.PHONY: generate
generate: deps helm ## Regenerate committed generated files (CRDs, API docs, deploy/ from the chart)
	@if [ -f hack/generate.sh ]; then bash hack/generate.sh; else echo "nothing to generate"; fi

.PHONY: verify-generate
verify-generate: generate ## Fail when committed generated files are stale
	@git diff --exit-code --stat -- deploy docs || { echo "generated files are stale: run 'make generate' and commit"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- deploy docs); \
	  if [ -n "$$untracked" ]; then echo "generated files are not committed: $$untracked"; exit 1; fi

.PHONY: demo
demo: deps binaries cassandra ## Local cluster + operator + a 3-member Cassandra cluster, and what to do next
	@bash hack/demo.sh

.PHONY: down
down: ## Stop the local cluster
	@$(UV) run --locked navigator local down

.PHONY: bench
bench: deps binaries ## Run the benchmarks and print their figures
	@bash hack/bench.sh

.PHONY: bench-operator
bench-operator: deps binaries ## Benchmark the operator (change latency, writes per reconcile, memory) and print the figures
	@$(UV) run --locked python hack/bench-operator.py
