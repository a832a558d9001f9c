# Everything a fresh machine with Python 3.11 needs comes from here and pyproject.toml.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

# The versions CI last passed with; `make lock` refreshes them from pyproject.toml's ranges.
CONSTRAINTS := constraints.txt

.PHONY: install lock kube-apiserver ratelimit grpc-go-client test lint format proto proto-check kubernetes kubernetes-check demo peers bench bench-quick clean

# $(1): the extras to install into the venv, which is made first when it is missing.
define venv_with
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e '.[$(1)]'
endef

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(call venv_with,test)
	touch $(STAMP)

install: $(STAMP)

# What `make demo` needs, and nothing of the test toolchain (`make install` has it all too).
$(DEMO_STAMP): pyproject.toml $(CONSTRAINTS)
	$(call venv_with,demo)
	touch $(DEMO_STAMP)

# Resolves pyproject.toml's ranges afresh in a scratch venv and writes the result; run
# `make test` afterwards and commit constraints.txt only if it passes.
lock:
	rm -rf build/lock-venv
	$(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install --quiet --upgrade pip
	build/lock-venv/bin/pip install --quiet -e '.[test]'
	{ echo "# Written by \`make lock\` from pyproject.toml; \`make install\` installs exactly these."; \
	  build/lock-venv/bin/pip freeze --exclude-editable; } > $(CONSTRAINTS)
	rm -rf build/lock-venv

# Most of the suite waits on Envoy, etcd and timers, so two workers (one test module
# each at a time, keeping module-scoped meshes whole) halve the wall time on two cores.
TEST_WORKERS ?= 2

# Go, for kube-apiserver and the bench peers.
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)

# The real kube-apiserver of tests/kubernetes and the Gateway API CRDs, built from the Go
# module proxy once per machine into ~/.cache/breakwater (XDG_CACHE_HOME), outside the clone
# so that every clone finds it; does nothing once they are there.
kube-apiserver: $(STAMP)
	$(BIN)/python -m breakwater.devtools.kube_apiserver --go "$(GO)"

# Envoy's reference rate-limit service (global rate limits), built the same way and into the
# same cache; does nothing once it is there. Its tests also need Debian's redis-server.
ratelimit: $(STAMP)
	$(BIN)/python -m breakwater.devtools.ratelimit_service --go "$(GO)"

# grpc-go's own xDS client (tests/proxyless/goclient), the proxyless tests' second client,
# built the same way and into the same cache; does nothing once it is there.
grpc-go-client: $(STAMP)
	$(BIN)/python -m breakwater.devtools.grpc_go_client --go "$(GO)"

test: $(STAMP) kube-apiserver ratelimit grpc-go-client
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy breakwater tests bench

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

PROTOC = $(BIN)/python -m grpc_tools.protoc -Iproto --python_out=$(1) --pyi_out=$(1) --grpc_python_out=$(1) proto/breakwater/v1/*.proto proto/breakwater/otlp/v1/*.proto

proto: $(STAMP)
	$(call PROTOC,.)

# Fails when the checked-in generated code differs from what `make proto` gives.
proto-check: $(STAMP)
	rm -rf build/proto-check && mkdir -p build/proto-check
	$(call PROTOC,build/proto-check)
	diff -r -x __init__.py -x __pycache__ build/proto-check/breakwater/v1 breakwater/v1
	diff -r -x __init__.py -x __pycache__ build/proto-check/breakwater/otlp breakwater/otlp

# deploy/kubernetes/crds.yaml, from the policy models.
kubernetes: $(STAMP)
	$(BIN)/python -m breakwater.devtools.kubernetes

# Fails when a checked-in generated manifest differs from what `make kubernetes` gives.
kubernetes-check: $(STAMP)
	$(BIN)/python -m breakwater.devtools.kubernetes --check

# The documentation site (docs/, mkdocs.yml) into build/site: fails when docs/reference/ is
# stale, a link leaves the repository, or mkdocs finds a broken link (strict mode).
# `make docs-pages` rewrites docs/reference/ from the code.
.PHONY: docs docs-pages
docs: $(STAMP)
	$(BIN)/python -m breakwater.devtools.docs --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

docs-pages: $(STAMP)
	$(BIN)/python -m breakwater.devtools.docs

# DEMO_ARGS=--free-ports when 18000, 18001 or 10000 are taken.
demo: $(DEMO_STAMP)
	$(BIN)/breakwater validate deploy/examples
	$(BIN)/python -m breakwater.devtools.demo $(DEMO_ARGS)

# The reference servers of bench/peers, built only here (make test needs no Java, and Go
# only for kube-apiserver); a toolchain that is missing leaves its peer out of the comparison.
peers:
	@if [ -x "$(GO)" ]; then cd bench/peers/go && $(GO) build -o ../../../build/peer-go .; \
	else echo "no Go toolchain: the go-control-plane peer is left out"; fi
	@if command -v mvn >/dev/null 2>&1; then cd bench/peers/java && mvn -q -B package; \
	else echo "no Maven: the java-control-plane peer is left out"; fi

bench: $(STAMP) peers
	$(BIN)/python -m bench.run

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
