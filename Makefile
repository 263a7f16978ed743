# The two commands of the README:
#   make run    rerun both ideal scenarios with their stable profiles into reports/<UTC stamp>/
#   make test   run the test suite (what CI runs)
# Both create .venv and install requirements.txt on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench full venv clean-venv

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
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

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean-venv:
	rm -rf $(VENV)
