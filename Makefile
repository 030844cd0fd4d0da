# Every target bootstraps its own virtual environment: on a fresh machine `make test`
# and `make demo` are the whole set-up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: the CPU wheel, never a CUDA build pulled in by a dependency
	$(PY) -m pip install -q -c constraints.txt torch
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# lint-imports first: the layers and no-cycle contracts of pyproject.toml ([tool.importlinter])
test: install
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

demo: install
	$(VENV)/bin/tensorrnn demo

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build src/*.egg-info
