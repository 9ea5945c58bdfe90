# CloudNet: one non-recursive Makefile. Each component folder contributes a
# fragment (FOLDER/Makefile.mk) that appends to the variables below; the
# generic rules here build every object, library, program and test.
#
#   make                         build everything (installs missing packages first)
#   make check                   build and run the tests
#   make DEVELOPER=1             warnings are errors
#   make SANITIZE=address,undefined check
#   make install PREFIX=/usr DESTDIR=/tmp/stage
#   make demo                    the demo federation
#   make bench                   the benchmarks

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share/cloudnet
DESTDIR ?=

CC ?= cc
CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wwrite-strings -Wcast-qual
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -I. $(WARNINGS) -MMD -MP -pthread
BASE_LDFLAGS := -pthread

ifeq ($(DEVELOPER),1)
BASE_CFLAGS += -Werror
endif

# Sanitized builds live in their own tree so they never mix with normal objects.
ifneq ($(SANITIZE),)
BUILD ?= build-san
BASE_CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=$(SANITIZE) -fno-omit-frame-pointer
BASE_LDFLAGS += -fsanitize=$(SANITIZE)
else
BUILD ?= build
endif

# Filled in by the fragments.
LIBRARIES :=      # component names; lib NAME is built from NAME_SRCS
PROGRAMS :=       # program names; PROG_SRCS, PROG_LIBS (components), PROG_LDLIBS
TEST_PROGRAMS :=  # like PROGRAMS, built under $(BUILD)/tests and run by make check
TEST_SCRIPTS :=   # shell tests run by make check after the programs (they print the summary line)
BENCH_PROGRAMS := # like PROGRAMS, built under $(BUILD)/bench
INSTALL_BIN :=    # programs installed to BINDIR
INSTALL_SBIN :=   # programs installed to SBINDIR
INSTALL_DATA :=   # files installed to DATADIR, keeping their relative path

all:

include util/Makefile.mk
include $(filter-out util/Makefile.mk,$(sort $(wildcard */*.mk)))

# Packages are installed on demand: the stamp is made once per build tree
# after scripts/install-deps.sh found (or installed) everything.
DEPS_STAMP := $(BUILD)/.deps-ok
$(DEPS_STAMP): scripts/install-deps.sh
	@sh scripts/install-deps.sh
	@mkdir -p $(@D) && touch $@

deps: $(DEPS_STAMP)

# $(call component_of,path/file.c) gives the folder, whose NAME_CFLAGS apply.
component_of = $(firstword $(subst /, ,$(1)))

$(BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $($(call component_of,$<)_CFLAGS) -c -o $@ $<

objs_of = $(patsubst %.c,$(BUILD)/%.o,$(1))

define library_template
$(BUILD)/lib$(1).a: $$(call objs_of,$$($(1)_SRCS))
	@mkdir -p $$(@D)
	$$(AR) rcs $$@ $$^
endef
$(foreach l,$(LIBRARIES),$(eval $(call library_template,$(l))))

# A program links its own objects, then its component libraries in the order
# given (dependents before dependencies), then their external libraries.
define program_template
$(2)/$(notdir $(1)): $$(call objs_of,$$($(1)_SRCS)) $$(foreach l,$$($(1)_LIBS),$(BUILD)/lib$$(l).a)
	@mkdir -p $$(@D)
	$$(CC) $$(BASE_LDFLAGS) $$(LDFLAGS) -o $$@ $$(call objs_of,$$($(1)_SRCS)) \
		$$(foreach l,$$($(1)_LIBS),$(BUILD)/lib$$(l).a) \
		$$(foreach l,$$($(1)_LIBS),$$($$(l)_LDLIBS)) $$($(1)_LDLIBS) -lm
endef
$(foreach p,$(PROGRAMS),$(eval $(call program_template,$(p),$(BUILD)/bin)))
$(foreach p,$(TEST_PROGRAMS),$(eval $(call program_template,$(p),$(BUILD)/tests)))
$(foreach p,$(BENCH_PROGRAMS),$(eval $(call program_template,$(p),$(BUILD)/bench)))

PROGRAM_FILES := $(addprefix $(BUILD)/bin/,$(notdir $(PROGRAMS)))
TEST_FILES := $(addprefix $(BUILD)/tests/,$(notdir $(TEST_PROGRAMS)))
BENCH_FILES := $(addprefix $(BUILD)/bench/,$(notdir $(BENCH_PROGRAMS)))

all: $(PROGRAM_FILES)

check: $(PROGRAM_FILES) $(TEST_FILES)
	@BUILD=$(BUILD) sh tests/run-tests.sh $(TEST_FILES) $(TEST_SCRIPTS)

bench-build: $(PROGRAM_FILES) $(BENCH_FILES)

install: $(PROGRAM_FILES)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(DATADIR)
	$(foreach p,$(INSTALL_BIN),install -m 755 $(BUILD)/bin/$(p) $(DESTDIR)$(BINDIR)/$(p) &&) true
	$(foreach p,$(INSTALL_SBIN),install -m 755 $(BUILD)/bin/$(p) $(DESTDIR)$(SBINDIR)/$(p) &&) true
	$(foreach f,$(INSTALL_DATA),install -D -m 644 $(f) $(DESTDIR)$(DATADIR)/$(f) &&) true

clean:
	rm -rf build build-san build-fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

.PHONY: all check install clean deps format bench-build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
