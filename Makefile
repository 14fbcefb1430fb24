# `make test` is the README's test command and what .ci/run calls. It works in the virtual
# environment that is active, or makes .venv: users install into a venv, where a missing
# install step (a library off the loader's path) shows, so the tests run in one too.
VENV ?= $(or $(VIRTUAL_ENV),.venv)
PY := $(VENV)/bin/python

.PHONY: setup test lint smoke train

$(PY):
	python3 -m venv $(VENV)

setup: $(PY)
	$(PY) -m pip install -q torch==2.13.0 -e ".[test]"
	@# Headless Chromium renders `augtrain report` pages in the tests; without it that test is skipped.
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "note: chromium could not be installed; the HTML report browser test will be skipped"

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: setup lint
	$(PY) -m pytest

# The user's commands end to end, in the same venv, on a small generated folder.
smoke: $(PY)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash .ci/smoke

train:
	$(PY) -m pip install -q torch==2.13.0 -e .
	$(VENV)/bin/augtrain train --preset speed
