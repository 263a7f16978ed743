# The two commands of the README:
#   make run    rerun both ideal scenarios with their stable profiles into reports/<UTC stamp>/
#   make test   run the test suite (what CI runs)
# Both create .venv and install requirements.txt on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench full venv clean-venv lab nbval

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name ptycho-workbook --display-name "ptycho-workbook (.venv)" >/dev/null
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m ptycho_helpers rerun

test: $(STAMP)
	$(PY) -m ruff check ptycho_helpers tests benchmarks scripts
	$(PY) -m ruff format --check ptycho_helpers tests benchmarks scripts
	$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest collected no tests (exit 5)" >&2; fi; \
	exit $$rc

full: $(STAMP)
	$(PY) -m ptycho_helpers rerun --profile full

# JupyterLab at the repository root with the project's kernel; the notebooks open as
# working copies in lab/ (git-ignored), so autosave never touches the tracked templates.
# Checkpoints go to .lab-checkpoints/ (ignored), never into a hub. Stop with Ctrl-C.
LAB_PORT ?= 8888
lab: $(STAMP)
	mkdir -p lab
	for nb in notebooks/*.ipynb; do test -e lab/$$(basename $$nb) || cp $$nb lab/; done
	$(VENV)/bin/jupyter lab --no-browser --ip=127.0.0.1 --port=$(LAB_PORT) --ServerApp.root_dir=$(CURDIR) \
		--FileCheckpoints.checkpoint_dir=$(CURDIR)/.lab-checkpoints lab/inspect_run.ipynb

# nbval: re-run the templates (the scenario notebook at tiny size) and compare the checked outputs
nbval: $(STAMP)
	$(PY) -m pytest -q tests/notebooks/test_nbval.py

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean-venv:
	rm -rf $(VENV)
