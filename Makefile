# Two commands a new user needs:  make reproduce  |  make test
# Both create .venv and install the pinned package once (a stamp file makes reruns instant).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CORES ?= all
PROFILE ?= default
# Threads and resources of a config profile: workflow/profiles/<profile>/ when it exists.
WORKFLOW_PROFILE := --workflow-profile $(if $(wildcard workflow/profiles/$(PROFILE)/config.yaml),workflow/profiles/$(PROFILE),none)
SMK_CONFIG := --config profile=$(PROFILE)

.PHONY: setup reproduce test check update-expected report dry-run lint clean-results

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

reproduce: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) $(WORKFLOW_PROFILE) --printshellcmds --show-failed-logs $(SMK_CONFIG)

test: $(STAMP)
	$(BIN)/python -m pytest -q

check: $(STAMP)
	$(BIN)/python -m reference_impls.regression check --profile $(PROFILE)

update-expected: $(STAMP)
	$(BIN)/python -m reference_impls.regression update --profile $(PROFILE)

report: $(STAMP)
	$(BIN)/snakemake --cores 1 $(WORKFLOW_PROFILE) --report results/$(PROFILE)/report.html $(SMK_CONFIG)

dry-run: $(STAMP)
	$(BIN)/snakemake -n --cores 1 $(WORKFLOW_PROFILE) $(SMK_CONFIG)

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python .ci/snakemake_lint.py $(WORKFLOW_PROFILE) $(SMK_CONFIG)

clean-results:
	rm -rf results/$(PROFILE) .snakemake
