# fastapi-service: every entry point a user or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

STACK ?= dev
CONFIG ?=
OUT ?=
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
APP_STAMP := app/.venv/.synced
RENDER_FLAGS := --stack $(STACK) $(if $(CONFIG),--config $(CONFIG)) $(if $(OUT),--out $(OUT))

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# uv's version is pinned once, in requirements-dev.txt: uv installs the rest.
UV_PIN := $(shell grep -E '^uv==' requirements-dev.txt)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip $(UV_PIN)
	$(UV) pip install --quiet --python $(PY) -r requirements-dev.txt
	touch $@

# checkov in its own venv (its dependencies conflict with Pulumi's): build/tools/checkov-venv.
CHECKOV := build/tools/checkov-venv/bin/checkov
$(CHECKOV): | $(VENV)/.installed
	$(PY) -m offline.gates.checkov install

$(APP_STAMP): $(VENV)/.installed app/pyproject.toml app/uv.lock
	cd app && ../$(UV) sync --frozen --quiet
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create .venv with the pinned infra and test tools

# Debian packages by group (scripts/system-packages.txt): installed when missing (root + apt-get),
# else the one apt-get command to run is printed and make stops before any test.
.PHONY: packages-test packages-image packages-bench packages-node packages-docker
packages-test packages-image packages-bench packages-node packages-docker:
	scripts/system-packages.sh $(@:packages-%=%)

.PHONY: render
render: $(VENV)/.installed $(CHECKOV) ## Render STACK (dev|prod) offline to build/render/STACK: schema-validated, checkov-scanned [CONFIG=file OUT=dir]
	$(PY) -m offline.render $(RENDER_FLAGS)

.PHONY: lint
lint: $(VENV)/.installed ## ruff and mypy over the program, its tooling and tests; actionlint, zizmor and the rules over .github/workflows; promtool over the alert rules
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m bench.targets --check
	set -o pipefail; bin="$$(scripts/lint-tools/build.sh | tail -n1)" && "$$bin/actionlint" -no-color $$(find .github/workflows -name '*.y*ml')
	set -o pipefail; bin="$$(scripts/lint-tools/build.sh promtool | tail -n1)" && PROMTOOL="$$bin/promtool" $(PY) -m pytest --noconftest -p no:cacheprovider tests/components/monitoring/test_alerts.py
	$(VENV)/bin/zizmor --offline --pedantic --strict-collection --no-progress .github/workflows
	$(PY) -m pytest --noconftest -p no:cacheprovider tests/workflows

# restic at the backup pods' version and SeaweedFS (the tests' S3 server), from Go modules into a
# cache outside the repository (scripts/s3/README.md; ~15 min cold, instant warm). Built here, with
# their progress on the terminal, rather than silently inside a test fixture.
.PHONY: backup-tools
backup-tools: ## Build (or reuse) restic and the S3 server the backup tests and the drill run
	scripts/backup/build-restic.sh >/dev/null
	scripts/s3/build.sh >/dev/null

.PHONY: test-infra
test-infra: packages-test $(VENV)/.installed $(APP_STAMP) $(CHECKOV) backup-tools ## The Pulumi program's tests (offline engine), deploy gates and backup/restore against real servers included
	$(PY) -m pytest tests --ignore=tests/e2e

# The Pulumi CLI and plugins: the official CLI when on PATH, else built from Go modules into a
# cache outside the repository (scripts/pulumi-toolchain/README.md; ~25 min cold, instant warm).
PULUMI_TOOLCHAIN = scripts/pulumi-toolchain/build.sh

.PHONY: toolchain
toolchain: ## Build (or reuse) the Pulumi CLI, the Kubernetes and random providers and the Python host
	$(PULUMI_TOOLCHAIN) >/dev/null

CLUSTER_TOOLCHAIN = scripts/control-plane/build.sh
CLUSTER_RUN ?= build/cluster/run

.PHONY: cluster-up
cluster-up: ## Start a local control plane (kwok nodes) on 127.0.0.1 in CLUSTER_RUN; prints its kubeconfig
	scripts/control-plane/up.sh $(CLUSTER_RUN)

.PHONY: cluster-down
cluster-down: ## Stop the control plane of CLUSTER_RUN (its logs stay in CLUSTER_RUN/logs)
	scripts/control-plane/down.sh $(CLUSTER_RUN)

NODE_RUN ?= build/node/run

.PHONY: node-up
node-up: ## Start a real single-node cluster (containerd, kubelet, DNS, policies, storage, registry) in NODE_RUN; prints its kubeconfig
	scripts/node/up.sh $(NODE_RUN)

.PHONY: node-down
node-down: ## Stop the node of NODE_RUN and undo what it changed on the machine (logs stay in NODE_RUN/logs)
	scripts/node/down.sh $(NODE_RUN)

.PHONY: test-engine
test-engine: packages-docker packages-image $(VENV)/.installed ## The real Pulumi engine on both stacks: secrets, preview, up, rotation, policy pack, upgrade, image.mode build with Docker, destroy
	bin="$$($(PULUMI_TOOLCHAIN) | tail -n1)" && PULUMI_TOOLCHAIN_BIN="$$bin" $(PY) -m pytest tests/e2e/engine

# The node's binaries and images build on first use (scripts/node/README.md: ~25 min cold, ~30 s warm).
.PHONY: test-node
test-node: packages-test packages-node packages-docker packages-image $(VENV)/.installed $(APP_STAMP) backup-tools ## Both stacks on a real Kubernetes node: pulumi up with the image built by pulumi-docker, traffic, NetworkPolicies, rollouts and faults under load, backups restored, drift, destroy
	bin="$$($(PULUMI_TOOLCHAIN) | tail -n1)" && PULUMI_TOOLCHAIN_BIN="$$bin" $(PY) -m pytest tests/e2e/node

.PHONY: test-app
test-app: packages-test $(APP_STAMP) ## The service's lint, types and tests against real MariaDB and Redis
	cd app && uv_run() { ../$(UV) run --frozen --quiet "$$@"; } && uv_run ruff check . && uv_run ruff format --check . && uv_run mypy && uv_run pytest

.PHONY: test
test: lint test-infra test-app ## Everything a fresh clone must pass: lint, types, infra and app tests

.PHONY: test-integration
test-integration: packages-test packages-image ## Build app/Dockerfile for real (buildah, or docker with a daemon) and run it against real MariaDB and Redis
	tests/integration/run.sh

.PHONY: up
up: $(VENV)/.installed ## Real deploy: `pulumi up` for STACK with the pinned toolchain (or the official CLI on PATH)
	eval "$$($(PULUMI_TOOLCHAIN) --install-plugins --print-env)" && pulumi up --stack $(STACK)

.PHONY: restore
restore: $(VENV)/.installed ## Restore a backup snapshot into fresh servers: make restore ARGS='list' (restic on PATH, else built; recovery/README.md)
	restic="$$(command -v restic || echo "$$(scripts/backup/build-restic.sh | tail -n1)/restic")" && \
	$(PY) -m recovery.restore --restic "$$restic" $(ARGS)

.PHONY: backup-drill
backup-drill: packages-test $(VENV)/.installed $(APP_STAMP) backup-tools ## Back up 100k items and Redis to a real S3 server, restore into fresh servers -> build/backup-drill/
	$(PY) -m recovery.drill --out build/backup-drill $(ARGS)

.PHONY: clean
clean: ## Remove build outputs and caches (keeps the virtualenvs)
	rm -rf build .pytest_cache .mypy_cache .ruff_cache app/.pytest_cache app/.mypy_cache app/.ruff_cache
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -not -path './app/.venv/*' -exec rm -rf {} +

.PHONY: bench
bench: packages-test packages-bench packages-image $(APP_STAMP) ## Benchmarks and fault drills vs a bare FastAPI baseline -> build/bench/ (results.json, results.md, PNGs)
	app/.venv/bin/python bench/run.py

.PHONY: bench-smoke
bench-smoke: packages-test packages-bench packages-image $(APP_STAMP) ## Every bench scenario briefly (keeps the harness alive; targets reported, not asserted)
	app/.venv/bin/python bench/run.py --smoke
