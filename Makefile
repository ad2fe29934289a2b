# brownout: one plain Makefile.
#   make                 build lib, CLI (build/)
#   make test            build and run every test (installs Debian deps first)
#   make run             evaluate the demo model on Fashion-MNIST
#   make SANITIZER=address|undefined|thread   sanitized build in build-$(SANITIZER)/
#   make CC=clang        any C11 compiler
.SUFFIXES:
.DELETE_ON_ERROR:

CC ?= cc
SANITIZER ?=
OPT ?= -O3
BUILD ?= build$(if $(SANITIZER),-$(SANITIZER))
PKGS := openblas libprotobuf-c zlib cmocka jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter
CFLAGS ?= $(OPT) -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -pthread \
	-Ilib/include -Ilib -I$(BUILD)/gen $(PKG_CFLAGS)
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
CLI := $(BUILD)/brownout
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TEST_COMMON := $(wildcard tests/unit/common_*.c)

.PHONY: all deps test test-only run clean bench fixtures
all: $(CLI) $(TEST_BIN)

deps:
	@deploy/install-deps.sh

$(BUILD)/gen/onnx.pb-c.c $(BUILD)/gen/onnx.pb-c.h: $(ONNX_PROTO)
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen -I$(dir $(ONNX_PROTO)) $(ONNX_PROTO)

$(BUILD)/gen/onnx.pb-c.o: $(BUILD)/gen/onnx.pb-c.c
	$(CC) -std=c11 $(CFLAGS) $(PKG_CFLAGS) -I$(BUILD)/gen $(if $(SANITIZER),-fsanitize=$(SANITIZER)) -c -o $@ $<

$(BUILD)/%.o: %.c $(BUILD)/gen/onnx.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(CLI): $(CLI_SRC:%.c=$(BUILD)/%.o) $(LIB)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(TEST_COMMON:%.c=$(BUILD)/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS) $(LDEXTRA_$*)

# the torture test makes the library's Nth allocation fail
LDEXTRA_test_torture := $(foreach f,malloc calloc realloc strdup aligned_alloc,-Wl,--wrap=$(f))

# `make test` first makes sure the Debian packages are there, then runs the
# unit tests and the CLI tests, the same again under ASan+UBSan, and checks
# that clang builds everything warning-free too.
test: deps
	$(MAKE) --no-print-directory test-only
	$(MAKE) --no-print-directory SANITIZER=address,undefined OPT=-O1 test-only
	$(MAKE) --no-print-directory CC=clang BUILD=build-clang all

test-only: all
	@BO_SANITIZED=$(if $(SANITIZER),1,) tests/run-tests.sh $(BUILD)

run: deps
	$(MAKE) --no-print-directory all
	@tools/demo.sh $(BUILD)

bench: all
	bench/run.sh $(BUILD)

fixtures:
	tools/make_fixtures.sh

clean:
	rm -rf build build-*

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
