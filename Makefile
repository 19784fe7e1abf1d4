# `make demo`: set everything up and run the Netflix example end to end.
# `make test`: install the test dependencies into the same venv and run the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo-workspace

.PHONY: demo test bench typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[local-triton]'
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	cp examples/netflix/modelyard.yaml $(DEMO_DIR)/
	$(BIN)/modelyard init $(DEMO_DIR)
	$(BIN)/modelyard apply examples/netflix/models --workspace $(DEMO_DIR)
	$(BIN)/modelyard validate --workspace $(DEMO_DIR)
	$(BIN)/modelyard plan --workspace $(DEMO_DIR)
	$(BIN)/modelyard report --workspace $(DEMO_DIR)
	$(BIN)/modelyard compile --out $(DEMO_DIR)/triton-repository --workspace $(DEMO_DIR)
	$(BIN)/python examples/netflix/demo.py $(DEMO_DIR)

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest

typecheck: $(VENV)/.test-installed
	$(BIN)/python -m mypy

bench: $(VENV)/.installed
	$(BIN)/python bench/catalog.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .hypothesis
