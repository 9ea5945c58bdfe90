# vnpd, the broker daemon: configuration, its own store (vnp/store.c, the
# only file here that includes mysql.h), the broker and the XML-RPC methods
# (vnp/rpc.c) on the shared server (rpc/). The schema scripts schemas/vnp-NNN.sql are compiled in with
# pip/embed-sql.sh, which wants pip-NNN.sql names and pip_ symbols: the
# scripts are copied under those names and the symbols renamed.
vnp_CFLAGS += $(shell pkg-config --cflags libmariadb)

VNP_SCHEMAS := $(sort $(wildcard schemas/vnp-*.sql))

$(BUILD)/vnp/schema-sql.c: pip/embed-sql.sh $(VNP_SCHEMAS)
	@rm -rf $(@D)/schemas && mkdir -p $(@D)/schemas
	for f in $(VNP_SCHEMAS); do cp $$f $(@D)/schemas/pip-$${f##*/vnp-}; done
	sh pip/embed-sql.sh $(@D)/schemas/pip-*.sql \
		| sed -e 's/pip_schema_/vnp_schema_/g' -e 's|schemas/pip-NNN|schemas/vnp-NNN|' > $@.tmp
	mv $@.tmp $@

$(BUILD)/vnp/schema-sql.o: $(BUILD)/vnp/schema-sql.c | $(DEPS_STAMP)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c -o $@ $<

PROGRAMS += vnpd
vnpd_SRCS := vnp/main.c vnp/config.c vnp/store.c vnp/broker.c vnp/rpc.c
vnpd_LIBS := vnpc vnpplan maprdl map rpcsrv rdl util
vnpd_LDLIBS = $(BUILD)/vnp/schema-sql.o $(shell pkg-config --libs libmariadb)
INSTALL_SBIN += vnpd
$(BUILD)/bin/vnpd: $(BUILD)/vnp/schema-sql.o

# vnpd over the wire: a private MariaDB, three real pipd processes on the
# libvirt test driver with transit links between them, real vnpd processes.
TEST_PROGRAMS += tests/vnpd_test
tests/vnpd_test_SRCS := tests/vnpd_test.c
tests/vnpd_test_LIBS := vnpc rdl util
$(BUILD)/tests/vnpd_test: $(BUILD)/bin/vnpd $(BUILD)/bin/pipd
