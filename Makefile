# `make test` is the README's test command and what .ci/run calls.
PY ?= python3

.PHONY: setup test lint train

setup:
	$(PY) -m pip install -q torch==2.13.0 -e ".[test]"
	@# Headless Chromium renders `augtrain report` pages in the tests; without it that test is skipped.
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "note: chromium could not be installed; the HTML report browser test will be skipped"

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: setup lint
	$(PY) -m pytest

train:
	$(PY) -m pip install -q torch==2.13.0 -e .
	augtrain train
