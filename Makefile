# One command each on a fresh machine with Python 3.11 and pip: `make demo`, `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
# Pin torch so these machines take the local CPU wheel; on a CUDA machine the same pin
# resolves to PyPI's CUDA build.
TORCH  ?= torch==2.13.0
STAMP   = $(VENV)/.installed

.PHONY: demo test venv clean

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vidnas presets

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
