# The two commands of the README:
#   make run    rerun both ideal scenarios with their stable profiles into reports/<UTC stamp>/
#   make test   run the test suite (what CI runs)
# Both create .venv and install requirements.txt on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench full venv clean-venv lab nbval docs

# GPU=1: the CUDA builds of TensorFlow and JAX (requirements-gpu.txt) instead of the CPU wheel.
# A venv made with GPU=1 stays a GPU venv (.venv/.gpu): later `make run`/`make test` never
# install the CPU wheel beside the CUDA one.
GPU ?= $(if $(wildcard $(VENV)/.gpu),1,)
ifeq ($(GPU),1)
REQS = $(VENV)/requirements-gpu-all.txt
STAMP := $(VENV)/.installed-gpu
else
REQS = requirements.txt
endif

$(VENV)/requirements-gpu-all.txt: requirements.txt requirements-gpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	grep -v '^tensorflow' requirements.txt > $@
	cat requirements-gpu.txt >> $@

$(STAMP): requirements.txt requirements-gpu.txt pyproject.toml $(if $(filter 1,$(GPU)),$(VENV)/requirements-gpu-all.txt)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(REQS)
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name ptycho-workbook --display-name "ptycho-workbook (.venv)" >/dev/null
	$(if $(filter 1,$(GPU)),touch $(VENV)/.gpu)
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

# the documentation site into build/site (also built with --strict by the tests)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

full: $(STAMP)
	$(PY) -m ptycho_helpers rerun --profile full

# JupyterLab at the repository root with the project's kernel; the notebooks open as
# working copies in lab/ (git-ignored), so autosave never touches the tracked templates.
# Checkpoints go to .lab-checkpoints/<the notebook's folder>/ (ignored), never into a hub,
# never shared by two notebooks of one name, never read-only. Stop with Ctrl-C.
# As root (containers) JupyterLab needs --allow-root: added when `id -u` is 0. LAB_ARGS
# passes further flags (e.g. LAB_ARGS="--ServerApp.token=abc"). lab-settings/overrides.json
# turns off the "fetch Jupyter news?" pop-up (it covered the inspector's lower corner).
LAB_PORT ?= 8888
LAB_ARGS ?=
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: $(STAMP)
	mkdir -p lab
	for nb in notebooks/*.ipynb; do test -e lab/$$(basename $$nb) || cp $$nb lab/; done
	$(VENV)/bin/jupyter lab --no-browser --ip=127.0.0.1 --port=$(LAB_PORT) --ServerApp.root_dir=$(CURDIR) \
		--ContentsManager.checkpoints_class=ptycho_helpers.hub.lab_checkpoints.MirroredCheckpoints \
		--FileCheckpoints.checkpoint_dir=$(CURDIR)/.lab-checkpoints \
		--LabApp.default_url=/lab/tree/lab/inspect_run.ipynb --LabApp.app_settings_dir=$(CURDIR)/lab-settings \
		$(LAB_ROOT) $(LAB_ARGS)

# nbval: re-run the templates (the scenario notebook at tiny size) and compare the checked outputs
nbval: $(STAMP)
	$(PY) -m pytest -q tests/notebooks/test_nbval.py

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean-venv:
	rm -rf $(VENV)
