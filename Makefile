# PromptForge: the two commands are `make demo` (a whole job on this machine) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TASKS_EMULATOR := .venv-tasks-emulator/bin/gcloud-tasks-emulator

.PHONY: install demo demo-google test lint typecheck check openapi clean infra-check bench

$(BIN)/promptforge: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/promptforge ## Create .venv with PromptForge and its test tools

demo: install ## Run the example job end to end on the embedded runtime and the provider simulator
	$(BIN)/promptforge demo

demo-google: install $(TASKS_EMULATOR) ## The demo job through the four functions on the Google emulators (before terraform apply)
	$(BIN)/promptforge dev google

test: install infra-check $(TASKS_EMULATOR) ## Lint, type-check and run every test
	$(BIN)/ruff check shared tests scripts functions
	$(BIN)/ruff format --check shared tests scripts functions
	$(BIN)/mypy
	$(BIN)/pytest -q -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check shared tests scripts functions
	$(BIN)/ruff format --check shared tests scripts functions

typecheck: install
	$(BIN)/mypy

# The Cloud Tasks emulator needs protobuf<5: it gets its own virtualenv; tests/gcp start it.
$(TASKS_EMULATOR):
	$(PYTHON) -m venv .venv-tasks-emulator
	.venv-tasks-emulator/bin/pip install --quiet gcloud-tasks-emulator==0.6.2
	touch $@

# checkov gets its own virtualenv: it replaces the hcl2 module with its own fork.
CHECKOV_VENV := .venv-checkov

$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==3.3.30
	touch $@

infra-check: $(CHECKOV_VENV)/bin/checkov ## Offline infra checks: terraform fmt and checkov (skips are justified inline)
	terraform fmt -check -recursive infra
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -d infra --framework terraform --quiet --compact

bench: install ## Benchmarks (not tests): print the figures and update docs/benchmarks.md
	$(BIN)/promptforge bench pipeline && $(BIN)/promptforge bench ingest && $(BIN)/promptforge bench rate

openapi: install ## Print the OpenAPI document (generated from the API's models)
	@$(BIN)/python -m promptforge.api.openapi

clean:
	rm -rf $(VENV) .venv-checkov .venv-tasks-emulator build var promptforge-results .pytest_cache .mypy_cache .ruff_cache
