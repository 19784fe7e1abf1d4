# `make demo`: set everything up and run the Netflix example end to end.
# `make test`: install the test dependencies into the same venv and run the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo-workspace

.PHONY: demo test bench typecheck clean system-demo system-test

# Debian packages: Graphviz draws the dependency graph; Chromium opens the HTML report in
# the browser test. Installed only when missing (needs root, as on CI).
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

test: $(VENV)/.test-installed system-test
	$(BIN)/python -m pytest

typecheck: $(VENV)/.test-installed
	$(BIN)/python -m mypy

bench: $(VENV)/.installed
	$(BIN)/python bench/catalog.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .hypothesis
