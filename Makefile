# Two commands do everything on a fresh clone:  `make run`  and  `make test`.
# Each creates or refreshes the local environment .venv when pyproject.toml changed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test env lab clean-runs

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	$(PY) -m pip install -e ".[dev,notebooks]"
	@touch $(STAMP)

env: $(STAMP)

run: $(STAMP)
	$(PY) -m podnet_lib run --preset digits $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean-runs:
	rm -rf runs/

# The static HTML edition: every chapter executed in fast mode, into build/book/index.html.
.PHONY: book
book: $(STAMP)
	$(PY) scripts/build_book.py $(ARGS)
