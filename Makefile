# Thin wrapper over CMakeLists.txt. The two commands a newcomer types:
#   make demo   install what is missing, build, run iclc's main job on a built-in default
#   make test   install what is missing, build, run the whole suite through prove
# SANITIZE=1 builds with ASan+UBSan into build-asan/.

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
CMAKE_FLAGS += -DICLC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
else
BUILD ?= build
CMAKE_FLAGS += -DCMAKE_BUILD_TYPE=Release
endif
JOBS ?= 2

.PHONY: all deps configure build test demo clean bench

all: build

deps:
	@./scripts/install-deps

$(BUILD)/CMakeCache.txt: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	ICLC=$(abspath $(BUILD))/iclc ICLC_BUILD=$(abspath $(BUILD)) prove -j$(JOBS) --exec '' $(BUILD)/tests/test_* tests/*.t

demo: build
	$(BUILD)/iclc demo

bench: build
	./scripts/install-deps --bench
	$(BUILD)/iclc bench

clean:
	rm -rf build build-asan
