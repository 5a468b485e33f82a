# ProvCA — the two commands: `make run` and `make test`.
# Everything else here is a step they are made of.

SHELL     := /bin/bash
DATA      ?= data
LISTEN    ?= 127.0.0.1:8443
# The read-only plain-HTTP listener (CRLs, CA certificates, OCSP) that
# certificates' CRL/OCSP/caIssuers URLs name.
PLAIN_PORT ?= 8080
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
BUILD     := build
ASAN      := build-asan
CTEST_ARGS ?= --output-on-failure --timeout 600 -j2

.PHONY: all setup setup-test build build-server build-asan run init test test-release test-asan bench demo clean format format-check

all: build

setup:
	@bash scripts/setup.sh build

setup-test:
	@bash scripts/setup.sh test

CONFIG_RELEASE := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROVCA_WERROR=ON
CONFIG_ASAN    := -DCMAKE_BUILD_TYPE=Debug -DPROVCA_WERROR=ON -DPROVCA_SANITIZE=ON

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) $(CONFIG_RELEASE)

build: setup $(BUILD)/Makefile
	cmake --build $(BUILD) -j$(JOBS)

$(ASAN)/Makefile:
	cmake -S . -B $(ASAN) $(CONFIG_ASAN)

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
	else ./$(BUILD)/bin/ca-server init --data $(DATA) --plain-keys --hostname localhost --example-oids \
	  --plain-url http://localhost:$(PLAIN_PORT) --plain-listen 127.0.0.1:$(PLAIN_PORT); fi

run: init
	./$(BUILD)/bin/ca-server serve --data $(DATA) --listen $(LISTEN)

# Release build and the sanitizer build each run the whole suite. Both are
# configured again first: the test tools setup-test just installed (clang,
# playwright-core, chromium, ...) must be seen even when `make run` configured
# build/ before they existed. A test whose tool is missing still registers,
# and fails saying what is missing.
test: setup-test
	cmake -S . -B $(BUILD) $(CONFIG_RELEASE) >/dev/null
	cmake -S . -B $(ASAN) $(CONFIG_ASAN) >/dev/null
	$(MAKE) --no-print-directory build build-asan
	@rc=0; \
	$(MAKE) --no-print-directory test-release || rc=1; \
	$(MAKE) --no-print-directory test-asan || rc=1; \
	for d in $(BUILD) $(ASAN); do \
	  echo "make test: $$d/: $$(cat $$d/ctest-summary.txt 2>/dev/null || echo 'ctest did not run')"; done; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED (see the ctest output above)"; \
	else echo "make test: ok"; fi; \
	exit $$rc

# ctest's output is kept in DIR/ctest.log; DIR/ctest-summary.txt says how many
# tests ran and how many failed (read by `make test` and tests/server).
define run_ctest
	@cd $(1) && { rm -f ctest-summary.txt; $(2) ctest $(CTEST_ARGS) 2>&1 | tee ctest.log; rc=$${PIPESTATUS[0]}; \
	  ran=$$(sed -n 's/.* tests failed out of \([0-9]*\).*/\1/p' ctest.log | tail -1); \
	  failed=$$(sed -n 's/.* \([0-9]*\) tests failed out of .*/\1/p' ctest.log | tail -1); \
	  echo "$${ran:-0} tests ran, $${failed:-?} failed" > ctest-summary.txt; exit $$rc; }
endef

test-release:
	$(call run_ctest,$(BUILD),)

test-asan:
	$(call run_ctest,$(ASAN),ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)

bench:
	@bash scripts/setup.sh bench
	bash tests/bench/run.sh

demo: build
	bash scripts/demo.sh

clean:
	rm -rf $(BUILD) $(ASAN)

# The tree's C style (.clang-format, clang-format 14 from Debian's
# clang-format package): format every tracked C file, or list (and fail on)
# the files that are not formatted.
FORMAT_FILES = git ls-files '*.c' '*.h' | grep -v -e '^third_party/' -e 'node_modules/'
format:
	@command -v clang-format >/dev/null || { echo "make format: install clang-format (apt-get install clang-format)"; exit 2; }
	$(FORMAT_FILES) | xargs clang-format -i

format-check:
	@command -v clang-format >/dev/null || { echo "make format-check: install clang-format (apt-get install clang-format)"; exit 2; }
	@bad=$$($(FORMAT_FILES) | while read -r f; do clang-format "$$f" | cmp -s - "$$f" || echo "$$f"; done); \
	if [ -n "$$bad" ]; then echo "$$bad"; echo "make format-check: these files are not formatted (make format)"; exit 1; fi; \
	echo "make format-check: ok"
