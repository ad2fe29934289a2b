# brownout: one plain Makefile.
#   make                 build lib, CLI (build/)
#   make test            build and run every test (installs Debian deps first)
#   make check-layering  each module sees only the headers it is meant to
#   make run             build, prepare ./var and start brownoutd in the foreground
#   make demo            evaluate the demo model on Fashion-MNIST with the CLI
#   make SANITIZER=address|undefined|thread   sanitized build in build-$(SANITIZER)/
#   make CC=clang        any C11 compiler
#   make fuzz            libFuzzer, FUZZ_SECONDS (600) per target (tests/fuzz/)
.SUFFIXES:
.DELETE_ON_ERROR:

CC ?= cc
SANITIZER ?=
OPT ?= -O3
BUILD ?= build$(if $(SANITIZER),-$(SANITIZER))
PKGS := openblas libprotobuf-c zlib jansson libmicrohttpd sqlite3 nettle
# the C tests only: brownout and brownoutd do not link the test framework
TEST_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# the CLI only: `brownout worker` speaks HTTP with libcurl
CURL_CFLAGS := $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS := $(shell pkg-config --libs libcurl 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter
CFLAGS ?= $(OPT) -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -pthread \
	-Ilib/include $(PKG_CFLAGS)
ifneq ($(SANITIZER),)
ALL_CFLAGS += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDSAN := -fsanitize=$(SANITIZER)
endif
LDLIBS := $(PKG_LIBS) -lm -pthread

ONNX_PROTO ?= /usr/include/onnx/onnx.proto
GEN := $(BUILD)/gen/onnx.pb-c.c
LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/onnx.pb-c.o
LIB := $(BUILD)/libbrownout.a
CLI_SRC := $(wildcard clients/cli/*.c)
COMMON_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard common/*.c))
CLI := $(BUILD)/brownout
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TEST_COMMON := $(wildcard tests/unit/common_*.c)
# the daemon: everything but main.c also links into its C tests
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/schema_sql.o $(BUILD)/gen/openapi_yaml.o \
	$(COMMON_OBJ)
DAEMON := $(BUILD)/brownoutd
DTEST_SRC := $(wildcard tests/daemon/test_*.c)
DTEST_BIN := $(DTEST_SRC:tests/daemon/%.c=$(BUILD)/tests/%)
# fuzz targets tests/fuzz/fuzz_T.c: $(BUILD)/tests/fuzz_T replays
# tests/fuzz/corpus/T/ in `make test` (tests/run-tests.sh)
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz_%)

.PHONY: all deps deps-run test test-only run demo clean bench fixtures test-web screenshots \
	vendor fuzz fuzz-build check-layering
all: $(CLI) $(DAEMON) $(TEST_BIN) $(DTEST_BIN) $(FUZZ_REPLAY)

# what the tests need too (make test) / only what building and running
# need (make run: no compilers of other languages, browsers or SLURM)
deps:
	@deploy/install-deps.sh test
deps-run:
	@deploy/install-deps.sh run

$(BUILD)/gen/onnx.pb-c.c $(BUILD)/gen/onnx.pb-c.h &: $(ONNX_PROTO)
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen -I$(dir $(ONNX_PROTO)) $(ONNX_PROTO)

$(BUILD)/gen/onnx.pb-c.o: $(BUILD)/gen/onnx.pb-c.c
	$(CC) -std=c11 $(CFLAGS) $(PKG_CFLAGS) -I$(BUILD)/gen $(if $(SANITIZER),-fsanitize=$(SANITIZER)) -c -o $@ $<

$(BUILD)/%.o: %.c $(BUILD)/gen/onnx.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# Who sees which headers, besides the public lib/include: the library's
# private headers (lib/*.h, the generated onnx.pb-c.h) only lib/ and its
# white-box tests. `make check-layering` compiles each module with exactly
# these (LAYERS), syntax only, whatever flags the rules add.
INC_lib := -Ilib -I$(BUILD)/gen
INC_common := -Icommon
INC_daemon := -Icommon -Idaemon
INC_cli := -Icommon -Iclients/cli
# `brownout worker` runs jobs with the daemon's jobctx.c
INC_worker := $(INC_cli) -Idaemon $(CURL_CFLAGS)
INC_unit := $(INC_lib)
# test_jobs.c builds ONNX models in memory (tests/unit/common_onnx.h)
INC_dtest := $(INC_daemon) -I$(BUILD)/gen
INC_fuzz := $(INC_daemon)
LAYERS := lib common daemon cli worker unit dtest fuzz
LAYER_SRC_lib := $(LIB_SRC)
LAYER_SRC_common := $(wildcard common/*.c)
LAYER_SRC_daemon := $(wildcard daemon/*.c)
LAYER_SRC_cli := $(filter-out clients/cli/worker.c,$(CLI_SRC))
LAYER_SRC_worker := clients/cli/worker.c
LAYER_SRC_unit := $(wildcard tests/unit/*.c)
LAYER_SRC_dtest := $(DTEST_SRC)
LAYER_SRC_fuzz := $(wildcard tests/fuzz/fuzz_*.c) tests/fuzz/replay_main.c

$(BUILD)/lib/%.o: ALL_CFLAGS += $(INC_lib)
$(BUILD)/common/%.o: ALL_CFLAGS += $(INC_common)
$(BUILD)/daemon/%.o: ALL_CFLAGS += $(INC_daemon)
$(BUILD)/clients/cli/%.o: ALL_CFLAGS += $(INC_cli)
$(BUILD)/clients/cli/worker.o: ALL_CFLAGS += -Idaemon $(CURL_CFLAGS)
$(BUILD)/tests/unit/%.o: ALL_CFLAGS += $(INC_unit)
$(BUILD)/tests/daemon/%.o: ALL_CFLAGS += $(INC_dtest)
$(BUILD)/tests/fuzz/%.o: ALL_CFLAGS += $(INC_fuzz)

# each module's sources alone with its include paths, then no private
# library header included by a path from outside lib/ and tests/unit/
LAYER_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -pthread -Ilib/include $(PKG_CFLAGS)
check-layering: $(BUILD)/gen/onnx.pb-c.h
	@rc=0; $(foreach m,$(LAYERS),for f in $(LAYER_SRC_$(m)); do \
		$(CC) $(LAYER_CFLAGS) $(INC_$(m)) -fsyntax-only $$f || { rc=1; \
		echo "check-layering: $$f ($(m)) does not compile with only $(INC_$(m)) -Ilib/include" >&2; }; \
	done;) tools/check-layering.py || rc=1; \
	[ $$rc = 0 ] && echo "check-layering: $(words $(foreach m,$(LAYERS),$(LAYER_SRC_$(m)))) files, $(words $(LAYERS)) layers: ok"; exit $$rc

$(LIB): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# `brownout worker` builds sweepers from job specs with the daemon's own code
$(CLI): $(CLI_SRC:%.c=$(BUILD)/%.o) $(sort $(COMMON_OBJ) $(DAEMON_OBJ)) $(LIB)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS) $(CURL_LIBS)

# migrations compiled in: schema/NNN_name.sql -> a table of (version, name, sql)
$(BUILD)/gen/schema_sql.c: $(sort $(wildcard schema/*.sql)) tools/embed_sql.sh
	@mkdir -p $(dir $@)
	tools/embed_sql.sh $(sort $(wildcard schema/*.sql)) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/schema_sql.o: $(BUILD)/gen/schema_sql.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# the API description, served at /api/v1/openapi.yaml
$(BUILD)/gen/openapi_yaml.c: docs/openapi.yaml tools/embed_file.sh Makefile
	@mkdir -p $(dir $@)
	tools/embed_file.sh bd_openapi_yaml docs/openapi.yaml > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/openapi_yaml.o: $(BUILD)/gen/openapi_yaml.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(DAEMON): $(BUILD)/daemon/main.o $(DAEMON_OBJ) $(LIB)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

$(DTEST_BIN): $(BUILD)/tests/%: $(BUILD)/tests/daemon/%.o $(DAEMON_OBJ) \
		$(TEST_COMMON:%.c=$(BUILD)/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS) $(TEST_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(TEST_COMMON:%.c=$(BUILD)/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS) $(TEST_LIBS) $(LDEXTRA_$*)

# ---- fuzzing (tests/fuzz/README.md) ----
# The replay binaries: every target with a main() that runs saved inputs,
# under the sanitizers of the build ($(BUILD)/tests/fuzz_T CORPUS...).
$(FUZZ_REPLAY): $(BUILD)/tests/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o \
		$(BUILD)/tests/fuzz/replay_main.o $(DAEMON_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

# `make fuzz`: clang + libFuzzer + ASan + UBSan in build-fuzz/, each target
# for FUZZ_SECONDS; new inputs go to build-fuzz/corpus/T, crashes to
# tests/fuzz/corpus/T/ (tests/fuzz/run.sh). FUZZ_TARGETS="http onnx" for some.
FUZZ_SECONDS ?= 600
fuzz:
	$(MAKE) --no-print-directory CC=clang BUILD=build-fuzz OPT=-O1 \
		SANITIZER=fuzzer-no-link,address,undefined fuzz-build
	nice -n 10 tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

$(BUILD)/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(DAEMON_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

# the torture test makes the library's Nth allocation fail
LDEXTRA_test_torture := $(foreach f,malloc calloc realloc strdup aligned_alloc,-Wl,--wrap=$(f))

# `make test` first makes sure the Debian packages are there, then runs the
# unit tests and the CLI tests, the same again under ASan+UBSan, and checks
# that clang builds everything warning-free too.
# The builds use every core (JOBS); the suites run one after another.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
test: deps
	$(MAKE) --no-print-directory check-layering
	$(MAKE) --no-print-directory -j$(JOBS) all
	$(MAKE) --no-print-directory test-only
	$(MAKE) --no-print-directory -j$(JOBS) SANITIZER=address,undefined OPT=-O1 all
	$(MAKE) --no-print-directory SANITIZER=address,undefined OPT=-O1 test-only
	$(MAKE) --no-print-directory -j$(JOBS) CC=clang BUILD=build-clang all

test-only: all
	@BO_SANITIZED=$(if $(SANITIZER),1,) tests/run-tests.sh $(BUILD)

run: deps-run
	$(MAKE) --no-print-directory -j$(JOBS) $(CLI) $(DAEMON)
	@tools/run-daemon.sh $(BUILD)

demo: $(CLI)
	@tools/demo.sh $(BUILD)

bench: all
	bench/run.sh $(BUILD)

# the browser tests alone, and the screenshots of docs/screenshots/
test-web: $(DAEMON) $(CLI)
	tests/web/run.sh $(BUILD)

screenshots: $(DAEMON) $(CLI)
	tests/web/run.sh $(BUILD) --docs

# refresh web/vendor/uplot from the npm registry (tools/vendor-uplot.sh)
vendor:
	tools/vendor-uplot.sh

fixtures:
	tools/make_fixtures.sh

clean:
	rm -rf build build-*

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
