LIBRARIES += rdl
rdl_SRCS := $(sort $(wildcard rdl/*.c))
rdl_CFLAGS = $(shell pkg-config --cflags yaml-0.1)
rdl_LDLIBS = $(shell pkg-config --libs yaml-0.1)

# Reader, validation and the bad-document corpus.
TEST_PROGRAMS += tests/rdl_read_test
tests/rdl_read_test_SRCS := tests/rdl_read_test.c
tests/rdl_read_test_LIBS := rdl util

# Writer golden files, round trips, type fit, matching, completion, drawing.
TEST_PROGRAMS += tests/rdl_test
tests/rdl_test_SRCS := tests/rdl_test.c
tests/rdl_test_LIBS := rdl util

BENCH_PROGRAMS += bench/rdl_bench
bench/rdl_bench_SRCS := bench/rdl_bench.c
bench/rdl_bench_LIBS := rdl util
