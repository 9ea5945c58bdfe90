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

# The daemon: configuration, the negotiation core, the XML-RPC methods
# (pip/rpc.c, the only file here that includes xmlrpc-c) on the shared
# server (rpc/).
PROGRAMS += pipd
pipd_SRCS := pip/main.c pip/core.c pip/config.c pip/rpc.c
pipd_LIBS := pip maprdl map emb clip rpcsrv rdl util
INSTALL_SBIN += pipd

# pipd over the wire: a private MariaDB, the real daemon on a free loopback
# port, a substrate served by the libvirt test driver, an xmlrpc-c client.
TEST_PROGRAMS += tests/pipd_test
tests/pipd_test_SRCS := tests/pipd_test.c
tests/pipd_test_LIBS := pip rdl util
# libxmlrpc_client.so pulls in libcurl itself; the -lcurl it names needs the
# curl development package, which is not needed to link.
tests/pipd_test_LDLIBS = $(filter-out -lcurl,$(shell xmlrpc-c-config client --libs))
$(BUILD)/tests/pipd_test: $(BUILD)/bin/pipd
