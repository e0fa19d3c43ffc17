# Enclave: `make run` starts the local platform, `make test` runs every check. Both set themselves up.
VENV := .venv
PY := $(VENV)/bin/python
REQS_HASH := $(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(REQS_HASH)
PYTEST_ARGS ?=

.PHONY: venv run demo test lint unit bench package clean chromium

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

## run: start the emulator and the four regional endpoints (Ctrl-C stops them)
run: venv
	$(PY) -m devtools.platform

## demo: seed a realistic data set through the API (DEMO_LEARNERS=5000); starts the platform if none answers
DEMO_LEARNERS ?= 5000
demo: venv
	$(PY) -m devtools.demo --learners $(DEMO_LEARNERS)

## lint: ruff, mypy (strict) and the layer contracts (.importlinter, docs/layers.md)
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## chromium: Debian's Chromium for the console's browser tests (Playwright cannot download a browser here)
CHROMIUM := /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || { test "$$(id -u)" = 0 || { echo "chromium is missing: run 'apt-get install -y chromium' as root" >&2; exit 1; }; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

## test: lint, then every test: tests/unit, tests/integration (moto in process), tests/e2e (the local
## platform over HTTP), tests/browser (the console in Chromium); docs/testing.md says what goes where.
## The tests run on TEST_WORKERS processes (pytest-xdist: one per core, at most 4, each worker that runs e2e
## or browser files starts a platform of its own), a file (or the deploy folder) whole on one worker, the
## longest first (tests/conftest.py); TEST_WORKERS=0 runs them all in this one process.
TEST_WORKERS ?= auto
test: lint chromium
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --maxprocesses 4 --dist loadscope --no-loadscope-reorder $(PYTEST_ARGS)

## unit: the fast part, tests/unit (no emulator, no platform, no browser): under a minute
unit: venv
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

## bench: benchmarks, each figure next to a baseline measured in the same run
bench: venv
	$(PY) -m chalicelib.adapters.lawpack_cache
	$(PY) -m bench

clean:
	rm -rf build .mypy_cache .ruff_cache .enclave
	rm -rf .chalice/deployments

## package: SAM template (sam.json), deployment.zip and the CDK app's cloud assembly (cdk.out, from the same
## template; needs node) of one prod stage into build/$(STAGE)/ (STAGE=prod-euw2)
package: venv
	@test -n "$(STAGE)" || { echo "usage: make package STAGE=prod-apse1|prod-apse2|prod-euw2|prod-use1" >&2; exit 2; }
	$(PY) -m deploy.iam --check
	$(PY) -m chalicelib.adapters.lawpack_cache
	$(PY) -m deploy.render $(STAGE) build/$(STAGE)/resources.json
	$(PY) -m deploy.console $(STAGE) build/$(STAGE)/console
	REGION=$$($(PY) -m deploy.stages region $(STAGE)) && \
	AWS_DEFAULT_REGION=$$REGION $(VENV)/bin/chalice package --stage $(STAGE) --pkg-format cloudformation \
		--merge-template build/$(STAGE)/resources.json build/$(STAGE)/
	$(PY) -m deploy.bytecode build/$(STAGE)/deployment.zip
	$(PY) -m deploy.cdk --build-dir build --out build/$(STAGE)/cdk.out $(STAGE)
