# podid: one non-recursive Makefile.  Everything is built under $(O)/.
#
# Sources are found by wildcard, one folder per layer, so a new module or a
# new test needs no edit here:
#   dsl/*.c  policy/*.c  agent/*.c  selftest/*.c   the podid library
#   agent/main.c                                    the podid binary
#   tests/<layer>/<name>_test.c                     one unit-test binary each
#   tests/e2e/<name>_test.{sh,py}                   end-to-end tests (root)
#   fuzz/<target>_fuzz.c                            one libFuzzer harness each
#   bench/<name>_bench.c                            benchmarks (make bench)

O        ?= build
OPT      ?= -O2 -g
SAN_OPT  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	    -fno-sanitize-recover=all
FUZZ_OPT := -O1 -g -fno-omit-frame-pointer \
	    -fsanitize=fuzzer-no-link,address,undefined -DPODID_FUZZ
RE2C     ?= re2c
RE2CFLAGS := -W -Werror --no-generation-date --no-version -i

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla -Wformat=2 -Wcast-qual -Wpointer-arith \
	-fno-common
HARDEN := -fstack-protector-strong -fPIE
ifeq ($(findstring sanitize,$(OPT))$(findstring sanitize,$(EXTRA)),)
HARDEN += -D_FORTIFY_SOURCE=2
endif
ALL_CFLAGS  = -std=c11 -D_GNU_SOURCE $(WARN) $(HARDEN) $(OPT) $(EXTRA) \
	      -I. $(CFLAGS)
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now $(OPT) $(EXTRA) $(LDFLAGS)
LIBS        = -lbearssl -lcap-ng

LIB_SRC  := dsl/lex.c $(filter-out dsl/lex.c,$(wildcard dsl/*.c)) \
	    $(wildcard policy/*.c) \
	    $(filter-out agent/main.c,$(wildcard agent/*.c)) \
	    $(wildcard selftest/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(O)/%.o)
LIB      := $(O)/libpodid.a

TEST_SRC  := $(wildcard tests/*/*_test.c)
TEST_BIN  := $(TEST_SRC:%.c=$(O)/%)
FUZZ_SRC  := $(wildcard fuzz/*_fuzz.c)
FUZZ_NAME := $(FUZZ_SRC:fuzz/%_fuzz.c=%)
REPLAY_BIN := $(FUZZ_NAME:%=$(O)/replay/%)
BENCH_SRC := $(wildcard bench/*_bench.c)
BENCH_BIN := $(BENCH_SRC:%.c=$(O)/%)

.PHONY: all demo check unit sanitize fuzz fuzz-run bench regen lexcheck analyze \
	fmt fmt-check layercheck clean static

all: $(O)/podid $(O)/lexcheck.stamp

# Keep test and harness objects between runs.
.SECONDARY:

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/podid: $(O)/agent/main.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# `make static`: the shipped podid, static with musl (musl-tools), Debian's
# libbearssl.a and libcap-ng.a, stripped.  Objects apart in $(O)/musl;
# deploy/static/ has its header folder and the glibc symbols those use.
# -O2 as every other build (-Os saves 40 KiB, but its inlining draws
# format-truncation warnings from deliberate snprintf truncations).
# A static PIE, so the kernel still randomises where it loads: musl's
# rcrt1.o relocates it at start, then RELRO makes the GOT read-only.
# Debian's musl-gcc specs know no -static-pie, so the start files and
# libraries are named here.
MUSL_CC   ?= musl-gcc
MUSL_O     = $(O)/musl
MUSL_OPT  ?= -O2 -ffunction-sections -fdata-sections
MUSL_LIBS  = $(foreach l,bearssl cap-ng,$(shell gcc -print-file-name=lib$(l).a))
MUSL_OBJ   = $(MUSL_O)/agent/main.o $(MUSL_O)/deploy/static/glibc_compat.o
MUSL_CRT  ?= /usr/lib/$(shell gcc -print-multiarch | sed 's/gnu$$/musl/')
GCC_CRT    = $(dir $(shell gcc -print-libgcc-file-name))
static:
	@sh deploy/static/include.sh $(MUSL_O)/include
	@$(MAKE) --no-print-directory O=$(MUSL_O) CC="$(MUSL_CC)" OPT="$(MUSL_OPT)" \
	    EXTRA= CFLAGS="-isystem $(MUSL_O)/include \
	    -include deploy/static/musl_compat.h" $(MUSL_OBJ) $(MUSL_O)/libpodid.a
	$(MUSL_CC) -static-pie -nostartfiles -nodefaultlibs -s $(MUSL_OPT) \
	    -Wl,--no-dynamic-linker,-z,relro,-z,now,--gc-sections \
	    -o $(O)/podid-static $(MUSL_CRT)/rcrt1.o $(MUSL_CRT)/crti.o \
	    $(GCC_CRT)crtbeginS.o $(MUSL_OBJ) $(MUSL_O)/libpodid.a $(MUSL_LIBS) \
	    -Wl,--start-group $(MUSL_CRT)/libc.a $(GCC_CRT)libgcc.a \
	    -Wl,--end-group $(GCC_CRT)crtendS.o $(MUSL_CRT)/crtn.o
	@ls -l $(O)/podid-static

# Unit tests: tests/<layer>/<name>_test.c, each its own binary.
$(O)/tests/%: $(O)/tests/%.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# Corpus replay: every fuzz harness linked with a plain main() that feeds it
# fuzz/corpus/<target>/* and fuzz/regression/<target>/*.
$(O)/replay/%: $(O)/fuzz/%_fuzz.o $(O)/fuzz/replay.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(O)/bench/%: $(O)/bench/%.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# The generated lexer is committed; the build fails when it drifts from its
# source.  `make regen` rewrites it.
regen:
	$(RE2C) $(RE2CFLAGS) -o dsl/lex.c dsl/lex.re

$(O)/lexcheck.stamp: dsl/lex.re dsl/lex.c
	@mkdir -p $(@D)
	@if command -v $(RE2C) >/dev/null; then \
	  $(RE2C) $(RE2CFLAGS) -o $(O)/lex.regen.c dsl/lex.re && \
	  if ! cmp -s $(O)/lex.regen.c dsl/lex.c; then \
	    echo "dsl/lex.c is stale against dsl/lex.re: run 'make regen'"; \
	    exit 1; fi; \
	else echo "re2c not found: lexer drift not checked"; fi
	@touch $@

lexcheck: $(O)/lexcheck.stamp

# The README's first command: a local demo of the whole flow.
demo: all
	@O=$(O) sh deploy/demo.sh

check: all $(TEST_BIN) $(REPLAY_BIN) layercheck
	@O=$(O) sh tests/run.sh

unit: all $(TEST_BIN) $(REPLAY_BIN)
	@O=$(O) PODID_NO_E2E=1 sh tests/run.sh

sanitize:
	@$(MAKE) --no-print-directory O=build/san OPT="$(SAN_OPT)" all
	@$(MAKE) --no-print-directory O=build/san OPT="$(SAN_OPT)" \
	    $(TEST_SRC:%.c=build/san/%) $(FUZZ_NAME:%=build/san/replay/%)
	@ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=1 \
	 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	 O=build/san PODID_NO_E2E=$${PODID_SAN_E2E:-1} sh tests/run.sh

# libFuzzer harnesses, clang only: build/fuzz/<target>.
fuzz:
	@$(MAKE) --no-print-directory O=build/fz CC=clang OPT="$(FUZZ_OPT)" \
	    build/fz/libpodid.a
	@for t in $(FUZZ_NAME); do \
	  mkdir -p build/fuzz; \
	  clang -std=c11 -D_GNU_SOURCE -I. -O1 -g -DPODID_FUZZ \
	    -fsanitize=fuzzer,address,undefined -o build/fuzz/$$t \
	    fuzz/$${t}_fuzz.c build/fz/libpodid.a $(LIBS) || exit 1; \
	done

# Each harness for FUZZ_SECONDS, then its corpus and regressions replayed.
FUZZ_SECONDS ?= 20
fuzz-run: fuzz
	@for t in $(FUZZ_NAME); do \
	  mkdir -p build/fuzz/work/$$t; \
	  d=""; [ -f fuzz/$$t.dict ] && d="-dict=fuzz/$$t.dict"; \
	  echo "fuzz $$t: $(FUZZ_SECONDS)s"; \
	  build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	    -artifact_prefix=build/fuzz/work/$$t- $$d \
	    build/fuzz/work/$$t fuzz/corpus/$$t 2>build/fuzz/$$t.log \
	    || { tail -40 build/fuzz/$$t.log; exit 1; }; \
	  tail -1 build/fuzz/$$t.log; \
	  if [ -d fuzz/regression/$$t ]; then \
	    build/fuzz/$$t -runs=0 fuzz/regression/$$t >/dev/null 2>&1 \
	    || { echo "fuzz $$t: regression failed"; exit 1; }; fi; \
	done

bench: all $(BENCH_BIN)
	@O=$(O) sh bench/run.sh

ANALYZE_SRC = $(filter-out dsl/lex.c,$(LIB_SRC)) agent/main.c
analyze:
	cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
	    --enable=warning,portability,performance \
	    --suppress=missingIncludeSystem -I. -D_GNU_SOURCE $(ANALYZE_SRC)
	clang-tidy --quiet $(ANALYZE_SRC) -- -std=c11 -D_GNU_SOURCE -I.

FMT_SRC = $(filter-out dsl/lex.c,$(wildcard agent/*.[ch] dsl/*.[ch] \
	  policy/*.[ch] selftest/*.[ch] fuzz/*.[ch] tests/*.h tests/*/*.[ch] \
	  bench/*.[ch]))
fmt:
	clang-format -i $(FMT_SRC)
fmt-check:
	clang-format --dry-run -Werror $(FMT_SRC)

# The layers: dsl/ uses libc only, policy/ may use dsl/, agent/ both.
layercheck:
	@bad=$$(grep -nE '#include "(policy|agent|selftest)/' dsl/*.[ch] dsl/lex.re; \
	  grep -nE '#include "(agent|selftest)/' policy/*.[ch]; \
	  grep -nE '#include "selftest/' agent/*.[ch]); \
	  if [ -n "$$bad" ]; then echo "layer violation:"; echo "$$bad"; exit 1; fi

clean:
	rm -rf build

-include $(shell find $(O) -name '*.d' 2>/dev/null)
