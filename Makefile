# Two commands on a fresh machine: `make demo` (set up + run the main job) and `make test`.
PYTHON_SYSTEM ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 7860

.PHONY: demo test app install clean-venv

# The venv is (re)built when the requirements or the package metadata change.
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml scripts/system_packages.sh
	PYTHON_SYSTEM=$(PYTHON_SYSTEM) bash scripts/system_packages.sh
	$(PY) -m pip --version >/dev/null 2>&1 || $(PYTHON_SYSTEM) -m venv --clear $(VENV)  # absent, or half-made
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP)
	$(PY) -m pytest tests

# Demo pages of the shipped checkpoints on http://127.0.0.1:$(PORT) (make app PORT=8080).
app: $(STAMP)
	$(PY) -m apps --port $(PORT)

clean-venv:
	rm -rf $(VENV)
