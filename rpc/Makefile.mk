# librpcsrv: the XML-RPC (Abyss) server side shared by pipd and vnpd
# (rpc/server.h). Its files and the daemons' rpc.c are the RPC files that
# include xmlrpc-c; xmlrpc-c's cflags are only -I/usr/include, so none are
# added.
LIBRARIES += rpcsrv
rpcsrv_SRCS := rpc/server.c
rpcsrv_LDLIBS = $(shell xmlrpc-c-config abyss-server --libs)

# The server and its helpers over the wire, with an xmlrpc-c client.
TEST_PROGRAMS += tests/rpc_server_test
tests/rpc_server_test_SRCS := tests/rpc_server_test.c
tests/rpc_server_test_LIBS := rpcsrv util
# libxmlrpc_client.so pulls in libcurl itself; the -lcurl it names needs the
# curl development package, which is not needed to link.
tests/rpc_server_test_LDLIBS = $(filter-out -lcurl,$(shell xmlrpc-c-config client --libs))
