# clipd, the VM image cache daemon, and libclip: the client library the
# embedding component links, plus the daemon's cache and server.
LIBRARIES += clip
clip_SRCS := clipd/client.c clipd/config.c clipd/copy.c clipd/cache.c clipd/server.c
clip_LDLIBS :=
clipd_CFLAGS :=

PROGRAMS += clipd
clipd_SRCS := clipd/main.c
clipd_LIBS := clip util
INSTALL_SBIN += clipd

TEST_PROGRAMS += tests/clipd_test
tests/clipd_test_SRCS := tests/clipd_test.c
tests/clipd_test_LIBS := clip util

BENCH_PROGRAMS += bench/clipd_bench
bench/clipd_bench_SRCS := bench/clipd_bench.c
bench/clipd_bench_LIBS := clip util
