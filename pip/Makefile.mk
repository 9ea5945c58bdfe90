# pipd, the infrastructure provider daemon. The library holds the daemon's
# components; the schema scripts in schemas/ are compiled into it, so the
# daemon never reads the source tree at run time.
LIBRARIES += pip
pip_SRCS := pip/store.c
pip_CFLAGS = $(shell pkg-config --cflags libmariadb)
pip_LDLIBS = $(shell pkg-config --libs libmariadb)

PIP_SCHEMAS := $(sort $(wildcard schemas/pip-*.sql))

$(BUILD)/pip/schema-sql.c: pip/embed-sql.sh $(PIP_SCHEMAS)
	@mkdir -p $(@D)
	sh pip/embed-sql.sh $(PIP_SCHEMAS) > $@.tmp && mv $@.tmp $@

$(BUILD)/pip/schema-sql.o: $(BUILD)/pip/schema-sql.c | $(DEPS_STAMP)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c -o $@ $<

# The library rule archives all of its prerequisites.
$(BUILD)/libpip.a: $(BUILD)/pip/schema-sql.o

PROGRAMS += pipctl
pipctl_SRCS := pip/pipctl.c
pipctl_LIBS := pip rdl util
INSTALL_SBIN += pipctl

TEST_PROGRAMS += tests/pip_store_test
tests/pip_store_test_SRCS := tests/pip_store_test.c
tests/pip_store_test_LIBS := pip rdl util
