# PromptForge: the two commands are `make demo` (a whole job on this machine) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint typecheck check openapi clean infra-check

$(BIN)/promptforge: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/promptforge ## Create .venv with PromptForge and its test tools

demo: install ## Run the example job end to end on the embedded runtime and the provider simulator
	$(BIN)/promptforge demo

test: install infra-check ## Lint, type-check and run every test
	$(BIN)/ruff check shared tests scripts
	$(BIN)/ruff format --check shared tests scripts
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check shared tests scripts
	$(BIN)/ruff format --check shared tests scripts

typecheck: install
	$(BIN)/mypy

# checkov gets its own virtualenv: it replaces the hcl2 module with its own fork.
CHECKOV_VENV := .venv-checkov

$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==3.3.30
	touch $@

infra-check: $(CHECKOV_VENV)/bin/checkov ## Offline infra checks: terraform fmt and checkov (skips are justified inline)
	terraform fmt -check -recursive infra
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -d infra --framework terraform --quiet --compact

openapi: install ## Regenerate the OpenAPI document
	$(BIN)/python scripts/make_openapi.py

clean:
	rm -rf $(VENV) var promptforge-results .pytest_cache .mypy_cache .ruff_cache
