# Two commands do everything on a fresh clone:  `make run`  and  `make test`.
# Each creates or refreshes the local environment .venv when pyproject.toml changed
# (scripts/env.py does the work; `python3 scripts/env.py run|test` is the same without make).
PYTHON ?= python3

.PHONY: run test env lab book clean-runs

run:
	$(PYTHON) scripts/env.py run $(ARGS)

test:
	$(PYTHON) scripts/env.py test $(ARGS)

env:
	$(PYTHON) scripts/env.py env

lab:
	$(PYTHON) scripts/env.py lab

# The static HTML edition: every chapter executed in fast mode, into build/book/index.html.
book:
	$(PYTHON) scripts/env.py book $(ARGS)

clean-runs:
	rm -rf runs/
