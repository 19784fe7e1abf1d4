# `make demo`: set everything up and run the Netflix example end to end.
# `make test`: install the test dependencies into the same venv and run the tests.
# `make test-fast`: the tests that need no Triton, PostgreSQL or browser and are not slow.
# `make lint`: ruff (lint, format) and mypy --strict, the gates CI runs before the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo-workspace

.PHONY: demo test test-fast lint bench typecheck clean system-demo system-test mlflow-env s3rver-env

# Debian packages: Graphviz draws the dependency graph; Chromium opens the HTML report in
# the browser test; HAProxy is the traffic gateway of the gateway tests, and nginx (its
# built-in mirror module; nginx-light has it) makes the shadow copies; Prometheus holds
# the live metrics canary rollouts are analysed on. Installed only
# when missing (needs root, as on CI).
APT_INSTALL = (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[local-triton]'
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

system-demo:
	@command -v dot >/dev/null || $(APT_INSTALL) graphviz) \
		|| echo "note: install Graphviz (apt-get install graphviz) to draw graphs"

system-test: system-demo
	@test -x /usr/bin/chromium || $(APT_INSTALL) chromium) \
		|| echo "note: install Debian's chromium for the browser test"
	@test -x /usr/sbin/haproxy || $(APT_INSTALL) --no-install-recommends haproxy) \
		|| echo "note: install Debian's haproxy for the gateway tests"
	@test -x /usr/sbin/nginx || $(APT_INSTALL) --no-install-recommends nginx-light) \
		|| echo "note: install Debian's nginx-light for the shadow-traffic tests"
	@test -x /usr/bin/prometheus || $(APT_INSTALL) --no-install-recommends prometheus) \
		|| echo "note: install Debian's prometheus for the canary rollout tests"

# MLflow for the import-mlflow tests, in its own virtualenv .venv-mlflow (its pins clash
# with the project's): installed from PyPI when missing, about 80 s here. Without it those
# tests skip saying why (on CI, where CI is set, they fail instead).
mlflow-env:
	@scripts/mlflow.sh install || echo "note: MLflow could not be installed into .venv-mlflow"

# s3rver (npm) for the S3 tests' second implementation, in .s3rver/: without it that half
# of tests/s3 skips saying why (on CI it fails instead).
s3rver-env:
	@scripts/s3rver.sh install >/dev/null || echo "note: s3rver could not be installed into .s3rver"

demo: $(VENV)/.installed system-demo
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	cp examples/netflix/modelyard.yaml $(DEMO_DIR)/
	$(BIN)/modelyard init $(DEMO_DIR)
	$(BIN)/modelyard apply examples/netflix/models --workspace $(DEMO_DIR)
	$(BIN)/modelyard validate --workspace $(DEMO_DIR)
	$(BIN)/modelyard plan --workspace $(DEMO_DIR)
	$(BIN)/modelyard report --workspace $(DEMO_DIR)
	$(BIN)/modelyard compile --out $(DEMO_DIR)/triton-repository --workspace $(DEMO_DIR)
	$(BIN)/modelyard report --html $(DEMO_DIR)/report --repository $(DEMO_DIR)/triton-repository --workspace $(DEMO_DIR)
	$(BIN)/python examples/netflix/demo.py $(DEMO_DIR)
	$(BIN)/modelyard doctor --workspace $(DEMO_DIR)

# pytest exits 5 when it collected no test (a path or -m expression that matches nothing):
# a failure like any other, and said so.
PYTEST := $(BIN)/python -m pytest
NO_TESTS = [ $$status -ne 5 ] || echo "== FAILED: pytest collected no tests (exit status 5)"

# The suite runs on SQLite, then again on PostgreSQL when scripts/postgres.sh can start
# one (it installs Debian's postgresql when run as root). The second run leaves out what
# drives a Triton or a browser, and the slow tests (fuzzers, real servers, S3, MLflow)
# unless marked every_backend (concurrent writers, leases, team scoping, persisted jobs):
# those scenarios read and write the catalog through the same store code the rest covers
# on both backends, and running them twice would double CI's longest part for nothing.
# MODELYARD_TEST_BACKENDS=sqlite runs the first only.
MODELYARD_TEST_BACKENDS ?= sqlite postgresql
POSTGRES_TESTS ?= not triton and not browser and (not slow or every_backend)
# Two pytest-xdist workers, each taking whole files (a module's Triton starts once): on two
# cores most tests wait on servers. Tests marked `timing` still run alone (tests/conftest.py
# locks them against the other worker). TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
PARALLEL = -n $(TEST_WORKERS) --dist loadfile
test: $(VENV)/.test-installed system-test mlflow-env s3rver-env
	@case " $(MODELYARD_TEST_BACKENDS) " in *" sqlite "*) \
		echo "== tests on SQLite" && $(PYTEST) $(PARALLEL) --durations=30 $(PYTEST_ARGS) \
			|| { status=$$?; $(NO_TESTS); exit $$status; };; esac
	@case " $(MODELYARD_TEST_BACKENDS) " in *" postgresql "*) \
		if url=$$(scripts/postgres.sh start); then \
			echo "== tests on PostgreSQL ($$url)"; \
			MODELYARD_TEST_DB=$$url $(PYTEST) $(PARALLEL) -m "$(POSTGRES_TESTS)" $(PYTEST_ARGS); \
				status=$$?; $(NO_TESTS); \
			scripts/postgres.sh stop; exit $$status; \
		elif [ -n "$$MODELYARD_REQUIRE_POSTGRES" ]; then \
			echo "== FAILED: PostgreSQL could not be started, and MODELYARD_REQUIRE_POSTGRES is set"; \
			exit 1; \
		else \
			echo "== SKIPPED: the PostgreSQL run of the tests (PostgreSQL could not be started)"; \
		fi;; esac

# Everything that needs no Triton, no PostgreSQL and no browser, and is not marked slow
# (markers in pyproject.toml): 1,200 tests in about 165 s on two cores and two workers
# (325 s in one). `make test` runs these and the rest.
FAST_TESTS = not triton and not slow and not browser
test-fast: $(VENV)/.test-installed
	@MODELYARD_TEST_DB= $(PYTEST) $(PARALLEL) -m "$(FAST_TESTS)" $(PYTEST_ARGS) \
		|| { status=$$?; $(NO_TESTS); exit $$status; }

# What CI checks before the tests: ruff's lint and format over all Python, and mypy
# --strict over src/modelyard (both configured in pyproject.toml, versions pinned there).
LINT_PATHS = src tests bench scripts examples
lint: $(VENV)/.test-installed
	$(BIN)/python -m ruff check $(LINT_PATHS)
	$(BIN)/python -m ruff format --check $(LINT_PATHS)
	$(BIN)/python -m mypy

typecheck: $(VENV)/.test-installed
	$(BIN)/python -m mypy

bench: $(VENV)/.installed
	$(BIN)/python bench/catalog.py

clean:
	rm -rf $(VENV) .venv-mlflow $(DEMO_DIR) .pytest_cache .mypy_cache .hypothesis
