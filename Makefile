# Thin wrapper over CMake. `make run` and `make test` do every set-up step themselves.
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 30
ARGS ?=

.PHONY: all deps build run test test-release test-asan test-tsan fuzz bench format check-format clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build -j $(JOBS)

run: build
	./build/inferd serve $(ARGS)

# Every test: the release build, the same suite under ASan+UBSan (LeakSanitizer included), the
# unit tests whose threads share data under ThreadSanitizer, and a bounded libFuzzer run of every
# fuzz target.
test: deps check-format test-release test-asan test-tsan fuzz

test-release: build
	cd build && ctest --output-on-failure -j 2

test-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DINFERD_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j 2

# OpenBLAS's own threads are not instrumented: one thread keeps its work on the caller's.
TSAN_TESTS = test_batcher test_lru test_redis test_journal test_index test_ingest
test-tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DINFERD_TSAN=ON >/dev/null
	@cmake --build build-tsan -j $(JOBS) --target $(TSAN_TESTS)
	cd build-tsan && export OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 && \
	  ./test_batcher && ./test_lru && ./test_redis && ./test_journal && ./test_index concurrent && \
	  ./test_index remove && ./test_ingest

fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DINFERD_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	@bash scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

bench: build
	bash bench/http.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-format: deps
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h') && echo "format: clean"


clean:
	rm -rf build build-asan build-tsan build-fuzz
