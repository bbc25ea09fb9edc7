# SPDX-License-Identifier: MIT
# memvisor: one non-recursive Makefile.
#
#   make              release build in $(O) (default build/)
#   make check        every Check suite under ASan+UBSan, in $(O)/check, the
#                     experiments' shape checks and the KVM suite
#   make unit         the fast suites alone (no end-to-end runs)
#   make bench        benchmarks, release build, and this tree against
#                     BENCH_BASE's binary (default HEAD~1) side by side
#   make fuzz         the trace readers' libFuzzer harnesses, FUZZ_SECONDS each
#                     (make check runs them for FUZZ_RUNS inputs)
#   make demo         the quickstart experiment and its report
#   make format-check clang-format, dry run
#
# `make check` and `make demo` first run scripts/deps.sh, which installs
# missing Debian packages (as root, through apt-get).

O ?= build
CK := $(O)/check
CC ?= cc
Q ?= @

PKGS := inih libxxhash libzstd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -g -I. $(WARN) $(PKG_CFLAGS)
REL_CFLAGS := $(BASE_CFLAGS) -O2 -DMEMVISOR_JEMALLOC $(CFLAGS)
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CK_CFLAGS := $(BASE_CFLAGS) -O1 $(SAN) $(CFLAGS)

MODULES := util mem traces guest ksm balloon-driver vmm-core
# vmm-core is laid out by role: core/ (runner, guests, policy tick,
# config), soft/ and kvm/ (the backends), out/ (run files), report/, cli/
VMM_DIRS := core soft kvm out report cli
LIB_SRCS := $(filter-out vmm-core/cli/main.c,$(foreach m,$(MODULES),$(wildcard $(m)/*.c)) \
	$(foreach d,$(VMM_DIRS),$(wildcard vmm-core/$(d)/*.c)))
MAIN_SRC := vmm-core/cli/main.c
BENCH_SRCS := $(wildcard bench/*.c)
# one Check binary per module, from every .c in <module>/tests/, plus the
# end-to-end suite in tests/e2e/
SUITES := $(foreach m,$(MODULES),$(if $(wildcard $(m)/tests/*.c),$(m)))
E2E_SRCS := $(wildcard tests/e2e/*.c)

obj = $(patsubst %.c,$(1)/%.o,$(2))

REL_LIB_OBJS := $(call obj,$(O),$(LIB_SRCS))
CK_LIB_OBJS := $(call obj,$(CK),$(LIB_SRCS))

.PHONY: all check unit bench demo format format-check clean deps fuzz fuzz-run kvm-guest \
	check-kvm check-experiments
all: $(O)/memvisor

deps:
	$(Q)sh scripts/deps.sh

$(O)/%.o: %.c
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(REL_CFLAGS) -MMD -MP -c $< -o $@
$(CK)/%.o: %.c
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CK_CFLAGS) -MMD -MP -c $< -o $@

$(O)/libmemvisor.a: $(REL_LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^
$(CK)/libmemvisor.a: $(CK_LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

# The release binary links jemalloc; the sanitizer build must not (both
# replace malloc).
$(O)/memvisor: $(call obj,$(O),$(MAIN_SRC)) $(O)/libmemvisor.a
	$(Q)$(CC) $(REL_CFLAGS) -o $@ $^ $(PKG_LIBS) -ljemalloc -lm -lpthread
	@echo "built $@"
$(CK)/memvisor: $(call obj,$(CK),$(MAIN_SRC)) $(CK)/libmemvisor.a
	$(Q)$(CC) $(CK_CFLAGS) -o $@ $^ $(PKG_LIBS) -lm -lpthread

define suite_rule
$(CK)/check_$(notdir $(1)): $(call obj,$(CK),$(wildcard $(1)/tests/*.c)) $(CK)/libmemvisor.a
	$(Q)$(CC) $(CK_CFLAGS) -o $$@ $$^ $(PKG_LIBS) $(CHECK_LIBS) -lm -lpthread
endef
$(foreach s,$(SUITES),$(eval $(call suite_rule,$(s))))

CK_BINS := $(foreach s,$(SUITES),$(CK)/check_$(notdir $(s)))
ifneq ($(E2E_SRCS),)
$(CK)/check_e2e: $(call obj,$(CK),$(E2E_SRCS)) $(CK)/libmemvisor.a
	$(Q)$(CC) $(CK_CFLAGS) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS) -lm -lpthread
E2E_BIN := $(CK)/check_e2e
endif

# The KVM suite (tests/kvm/): its own binary, run by `make check-kvm` where
# /dev/kvm exists or inside a nested QEMU guest (tests/kvm/run-nested.sh).
KVM_SRCS := $(wildcard tests/kvm/*.c)
$(CK)/check_kvm: $(call obj,$(CK),$(KVM_SRCS)) $(CK)/libmemvisor.a
	$(Q)$(CC) $(CK_CFLAGS) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS) -lm -lpthread

# Linux guests for the KVM backend, in $(O)/kvm/: Debian's kernel package
# unpacked (kernel/vmlinuz, its modules), memvisor's static in-guest
# program, and the guest initramfs built from busybox-static, that program
# and the virtio and zram modules. The program links against the product
# library as an archive, so only the objects it uses come in (the
# workloads, content, trace replay and what they call); guest/ replays
# traces, so traces/ and its libraries (static) come along.
KVM_DIR := $(O)/kvm
GUEST_PROG_OBJS := $(call obj,$(O),$(wildcard guest/inguest/*.c))
$(KVM_DIR)/kernel/version:
	$(Q)sh scripts/kvm-kernel.sh $(KVM_DIR)/kernel
$(KVM_DIR)/memvisor-guest: $(GUEST_PROG_OBJS) $(O)/libmemvisor.a
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(REL_CFLAGS) -static -o $@ $^ $(PKG_LIBS) -lm -lpthread
$(KVM_DIR)/guest.cpio.gz: guest/initramfs/build.sh guest/initramfs/init $(KVM_DIR)/memvisor-guest $(KVM_DIR)/kernel/version
	$(Q)sh guest/initramfs/build.sh $(KVM_DIR)/kernel $(KVM_DIR)/memvisor-guest $@
kvm-guest: $(KVM_DIR)/guest.cpio.gz

# Suites find the binary under test and the source tree through these.
# Check kills a test after 4 s by default: too tight for sanitized suites on
# a shared machine. The timeout only catches hangs; tests never time work.
CK_ENV := CK_DEFAULT_TIMEOUT=600 MEMVISOR_BIN=$(abspath $(CK)/memvisor) MEMVISOR_SRC=$(CURDIR) \
	MEMVISOR_GUEST_BIN=$(abspath $(KVM_DIR)/memvisor-guest) \
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1

unit: deps
	$(Q)$(MAKE) --no-print-directory $(CK_BINS)
	$(Q)set -e; for t in $(CK_BINS); do echo "== $$t"; $(CK_ENV) $$t; done

check: deps
	$(Q)$(MAKE) --no-print-directory $(CK_BINS) $(E2E_BIN) $(CK)/memvisor $(FUZZ_BINS) \
		$(KVM_DIR)/memvisor-guest
	$(Q)set -e; for t in $(CK_BINS) $(E2E_BIN); do echo "== $$t"; $(CK_ENV) $$t; done
	$(Q)$(MAKE) --no-print-directory fuzz-run FUZZ_ARGS="-runs=$(FUZZ_RUNS)"
	$(Q)$(MAKE) --no-print-directory check-experiments
	$(Q)$(MAKE) --no-print-directory check-kvm

# Every soft experiment's run.sh, reduced, with its shape checks
# (tests/experiments.sh), on the release build.
check-experiments: deps
	$(Q)$(MAKE) --no-print-directory $(O)/memvisor
	$(Q)sh tests/experiments.sh $(O)

# libFuzzer harnesses of the trace readers (traces/fuzz/), built with clang
# and ASan+UBSan over the traces sources. Each runs from a scratch copy of
# its seed corpus (traces/fuzz/corpus/NAME), so the committed seeds stay
# as they are; crashes land in $(O)/fuzz/.
FUZZ_CC ?= clang
FUZZ_RUNS ?= 100000
FUZZ_SECONDS ?= 600
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -I. $(WARN) $(PKG_CFLAGS) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_NAMES := $(patsubst traces/fuzz/fuzz_%.c,%,$(wildcard traces/fuzz/fuzz_*.c))
FUZZ_BINS := $(foreach f,$(FUZZ_NAMES),$(O)/fuzz/fuzz_$(f))
$(O)/fuzz/fuzz_%: traces/fuzz/fuzz_%.c $(wildcard traces/*.c traces/*.h util/*.c util/*.h)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(wildcard traces/*.c util/*.c) $(PKG_LIBS) -lpthread
fuzz-run: $(FUZZ_BINS)
	$(Q)set -e; for f in $(FUZZ_NAMES); do echo "== fuzz_$$f $(FUZZ_ARGS)"; \
		rm -rf $(O)/fuzz/corpus-$$f; mkdir -p $(O)/fuzz/corpus-$$f; \
		cd $(O)/fuzz; if ./fuzz_$$f -seed=1 $(FUZZ_ARGS) -max_len=65536 -timeout=10 \
			corpus-$$f $(CURDIR)/traces/fuzz/corpus/$$f > fuzz_$$f.log 2>&1; \
		then grep -E '^#[0-9]+[[:space:]]+DONE' fuzz_$$f.log || true; \
		else tail -40 fuzz_$$f.log; exit 1; fi; cd $(CURDIR); done
fuzz: deps
	$(Q)$(MAKE) --no-print-directory fuzz-run FUZZ_ARGS="-max_total_time=$(FUZZ_SECONDS)"

# The KVM suite: directly where a hardware KVM provides /dev/kvm (or a
# probe boots Linux on it), otherwise inside qemu-system-x86_64 (TCG,
# emulated AMD SVM) booted twice, with kvm_amd npt=1 and npt=0.
# tests/kvm/route.sh chooses and says why; MEMVISOR_KVM_ROUTE=direct|nested
# forces a route.
check-kvm: deps
	$(Q)$(MAKE) --no-print-directory $(O)/memvisor $(CK)/check_kvm $(KVM_DIR)/guest.cpio.gz
	$(Q)sh tests/kvm/route.sh $(O)

$(O)/bench_%: $(O)/bench/bench_%.o $(O)/libmemvisor.a
	$(Q)$(CC) $(REL_CFLAGS) -o $@ $^ $(PKG_LIBS) -ljemalloc -lm -lpthread
BENCH_BINS := $(patsubst bench/%.c,$(O)/%,$(BENCH_SRCS))
# then this tree's memvisor against BENCH_BASE's (bench/compare.py)
BENCH_BASE ?= HEAD~1
bench: deps
	$(Q)$(MAKE) --no-print-directory $(BENCH_BINS) $(O)/memvisor
	$(Q)set -e; for b in $(BENCH_BINS); do echo "== $$b"; $$b; done
	$(Q)echo "== bench/compare.py"; base=$$(sh bench/base.sh $(O) $(BENCH_BASE)) && \
		python3 bench/compare.py $(abspath $(O)/memvisor) $$base $(abspath $(O))/bench-work

demo: deps
	$(Q)$(MAKE) --no-print-directory $(O)/memvisor
	$(Q)MEMVISOR=$(abspath $(O)/memvisor) sh experiments/quickstart/run.sh

FMT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format-check:
	$(Q)clang-format --dry-run --Werror $(FMT_SRCS)
format:
	$(Q)clang-format -i $(FMT_SRCS)

clean:
	rm -rf $(O)

-include $(shell find $(O) -name '*.d' 2>/dev/null)
