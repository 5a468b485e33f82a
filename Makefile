# ProvCA — the two commands: `make run` and `make test`.
# Everything else here is a step they are made of.

DATA      ?= data
LISTEN    ?= 127.0.0.1:8443
# The read-only plain-HTTP listener (CRLs, CA certificates, OCSP) that
# certificates' CRL/OCSP/caIssuers URLs name.
PLAIN_PORT ?= 8080
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
BUILD     := build
ASAN      := build-asan
CTEST_ARGS ?= --output-on-failure --timeout 600

.PHONY: all setup setup-test build build-server build-asan run init test test-release test-asan bench demo clean

all: build

setup:
	@bash scripts/setup.sh build

setup-test:
	@bash scripts/setup.sh test

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROVCA_WERROR=ON

build: setup $(BUILD)/Makefile
	cmake --build $(BUILD) -j$(JOBS)

$(ASAN)/Makefile:
	cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DPROVCA_WERROR=ON -DPROVCA_SANITIZE=ON

build-asan: setup $(ASAN)/Makefile
	cmake --build $(ASAN) -j$(JOBS)

# Just the CA server (and the portal's assets) for `make run`.
build-server: setup $(BUILD)/Makefile
	cmake --build $(BUILD) -j$(JOBS) --target ca-server $(if $(wildcard web/node_modules/chart.js),portal_assets,)

# Initialise a CA in $(DATA) on first run, then serve it. A local trial CA:
# the documentation OID arc is chosen explicitly (--example-oids; see
# docs/ca-server.md for one's own PEN), plain HTTP on for the CRL/OCSP URLs.
init: build-server
	@if [ -f $(DATA)/config.json ]; then echo "CA already initialised in $(DATA)/"; \
	else ./$(BUILD)/bin/ca-server init --data $(DATA) --hostname localhost --example-oids \
	  --plain-url http://localhost:$(PLAIN_PORT) --plain-listen 127.0.0.1:$(PLAIN_PORT); fi

run: init
	./$(BUILD)/bin/ca-server serve --data $(DATA) --listen $(LISTEN)

# Release build and the sanitizer build each run the whole suite.
test: setup-test
	$(MAKE) --no-print-directory build build-asan
	@rc=0; \
	$(MAKE) --no-print-directory test-release || rc=1; \
	$(MAKE) --no-print-directory test-asan || rc=1; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED (see the ctest output above)"; fi; \
	exit $$rc

test-release:
	cd $(BUILD) && ctest $(CTEST_ARGS)

test-asan:
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_ARGS)

bench:
	@bash scripts/setup.sh bench
	bash tests/bench/run.sh

demo: build
	bash scripts/demo.sh

clean:
	rm -rf $(BUILD) $(ASAN)
