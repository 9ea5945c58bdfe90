# pipd end to end, as root on a substrate of network namespaces (the
# shared setup is tests/pipd-e2e/lib.sh). The scripts drive the real daemon
# over XML-RPC through tests/pip_rpc, a generic caller: a helper, not a
# test of its own, so not in TEST_PROGRAMS.
PIP_RPC := $(BUILD)/tests/pip_rpc
$(PIP_RPC): $(BUILD)/tests/pip_rpc.o
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $^ \
		$(filter-out -lcurl,$(shell xmlrpc-c-config client --libs))
check: $(PIP_RPC) $(BUILD)/bin/pipd $(BUILD)/bin/pipctl

# Two CloudNets negotiated, confirmed, pinged, released; bad requests.
TEST_SCRIPTS += tests/pipd_dataplane_test.sh

# kill -9 in the middle of negotiations, recovery, leases ending, counting
# what is left.
TEST_SCRIPTS += tests/pipd_crash_test.sh
