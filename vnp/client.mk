# libvnpc: the negotiation interface's client (vnp/client.h), used by vnpd
# towards its providers and by cloudnet towards a PIP or a VNP. Only
# vnp/client.c includes xmlrpc-c's client headers.
LIBRARIES += vnpc
vnpc_SRCS := vnp/client.c
# libxmlrpc_client.so pulls in libcurl itself; the -lcurl it names needs the
# curl development package, which is not needed to link.
vnpc_LDLIBS = $(filter-out -lcurl,$(shell xmlrpc-c-config client --libs))

# The client against a real pipd (MariaDB, libvirt test driver), a socket
# that never answers and a port nobody listens on.
TEST_PROGRAMS += tests/vnp_client_test
tests/vnp_client_test_SRCS := tests/vnp_client_test.c
tests/vnp_client_test_LIBS := vnpc rdl util
$(BUILD)/tests/vnp_client_test: $(BUILD)/bin/pipd
