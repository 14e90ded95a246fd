# SPDX-License-Identifier: Apache-2.0
# The README's two commands: `make demo` and `make test`.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_TSAN ?= build-tsan
BUILD_RELEASE ?= build-release
PREFIX     ?= /usr/local
DESTDIR    ?=
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps build build-asan build-tsan test test-unit demo bench bench-pgo clean release \
        install deb format format-check tidy

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_ARGS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j $(JOBS)

$(BUILD_ASAN)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSYSPGO_SANITIZE=ON -DSYSPGO_GO_TOOLS=OFF $(CMAKE_ARGS)

build-asan: deps $(BUILD_ASAN)/build.ninja
	ninja -C $(BUILD_ASAN) -j $(JOBS)

$(BUILD_TSAN)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD_TSAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSYSPGO_TSAN=ON -DSYSPGO_GO_TOOLS=OFF $(CMAKE_ARGS)

# Only the concurrent fetch code's tests (fs_test) run under TSan.
build-tsan: deps $(BUILD_TSAN)/build.ninja
	ninja -C $(BUILD_TSAN) -j $(JOBS) fs_test

# The style check, every test in the normal build (integration tests need
# root and skip with the reason otherwise), then the unit tests under
# ASan+UBSan, then the fetch layer's tests under TSan.
test: build build-asan build-tsan
	@$(MAKE) --no-print-directory format-check
	cd $(BUILD) && ctest --output-on-failure -j 1 --timeout 300
	cd $(BUILD_ASAN) && ctest --output-on-failure -L unit -j $(JOBS) --timeout 300
	TSAN_OPTIONS=halt_on_error=1 $(BUILD_TSAN)/tests/fs_test

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_TSAN) $(BUILD_RELEASE)

# The programs a node runs, optimized, debug information split off
# (bin/NAME.debug); `make install PREFIX=/usr DESTDIR=...` installs them,
# the systemd units, docs and examples; `make deb` packages them.
release: deps
	@scripts/release.sh $(BUILD_RELEASE)

install: release
	@scripts/install.sh $(BUILD_RELEASE) $(PREFIX) $(DESTDIR)

deb: release
	@scripts/make-deb.sh $(BUILD_RELEASE) $(BUILD_RELEASE)/deb

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit -j $(JOBS)

# Only what the demo runs (syspgo and the link relay), after saying what it
# will cost here.
demo: deps
	@scripts/demo.sh --estimate $(BUILD)
	@[ -f $(BUILD)/build.ninja ] || cmake -S . -B $(BUILD) -G Ninja $(CMAKE_ARGS) > /dev/null
	@echo "== building syspgo and syspgo-delay-relay"
	@ninja -C $(BUILD) -j $(JOBS) syspgo syspgo-delay-relay
	@scripts/demo.sh $(BUILD)/bin/syspgo

# Style (.clang-format) and static checks (.clang-tidy); the code passes both.
# The BPF programs and their ABI headers keep the kernel's style (tabs), as
# libbpf-tools' do.
BPF_ABI = src/trace/iotrace.h src/profile/profile.h src/sched/sched.h
SOURCES = git ls-files '*.cc' '*.h' '*.c' | grep -v -e '^build' -e '\.bpf\.[ch]$$' \
          $(foreach f,$(BPF_ABI),-e '^$(f)$$')
format:
	@$(SOURCES) | xargs clang-format-14 -i

format-check:
	@$(SOURCES) | xargs clang-format-14 --dry-run -Werror

tidy: build
	@scripts/tidy.sh $(BUILD) $(JOBS)

bench: build
	@scripts/install-deps.sh --bench
	@bench/pull_bench.sh $(BUILD)/bin/syspgo
	@bench/coldstart.sh $(BUILD)/bin/syspgo --scale
	@bench/sched.sh $(BUILD)/bin/syspgo

# The PGO corpus (bench/pgo/corpus.py): six programs, every method, three
# recordings each; about an hour on 2 CPUs.
bench-pgo: build
	@scripts/install-deps.sh --bench
	@ninja -C $(BUILD) syspgo syspgo-pgo-oracle
	@bench/pgo.sh --corpus $(BUILD)/bin/syspgo
