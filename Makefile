# Centralita — the two commands are `make run` and `make test`; everything else is a step of them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PROTO_SRC := $(shell find protos -name '*.proto')
GEN_STAMP := services/centralita/tool_descriptors.binpb

.PHONY: run test bench protos prompts lint setup clean

setup: $(VENV)/.installed node_modules/.installed $(GEN_STAMP)
	@sh deploy/k8s/ensure-kubectl.sh || echo "kubectl could not be installed: tests/deploy will skip (and fail under CI=true)"
	@sh scripts/ensure-debs.sh espeak-ng:espeak-ng sox:sox || echo "espeak-ng/sox could not be installed: the spoken-call tests will skip (and fail under CI=true)"
	@APT_NO_RECOMMENDS=1 sh scripts/ensure-debs.sh promtool:prometheus || echo "promtool could not be installed: the alert-rule tests will skip (and fail under CI=true)"

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	 else echo "npm not found: buf lint and the grpc-js interop test will be skipped"; fi

# Generated code is never committed: it is rebuilt from protos/ whenever a .proto changes.
$(GEN_STAMP): $(PROTO_SRC) $(VENV)/.installed
	$(PY) -m centralita.protogen
	@touch $@

protos: $(VENV)/.installed
	$(PY) -m centralita.protogen

# The gateway's spoken fallbacks (services/call_gateway/prompts), rendered from the profile texts.
prompts: setup
	$(VENV)/bin/centralita prompts

run: setup
	$(VENV)/bin/centralita run

test: setup
	$(PY) -m pytest -q

bench: setup
	@for b in bench/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: setup
	$(VENV)/bin/ruff check services tests bench scripts
	$(VENV)/bin/ruff format --check services tests bench scripts
	cd protos && ../node_modules/.bin/buf lint && ../node_modules/.bin/buf format -d --exit-code


clean:
	rm -rf $(VENV) node_modules $(GEN_STAMP)
	find services -name '*_pb2*.py*' -delete
