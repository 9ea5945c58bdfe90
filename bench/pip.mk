# pipd over the wire: negotiate+confirm+release throughput and latency with
# one and with several concurrent clients (bench/pip_bench.c starts its own
# MariaDB and pipd). It includes tests/db-helper.h for the scratch server.
BENCH_PROGRAMS += bench/pip_bench
bench/pip_bench_SRCS := bench/pip_bench.c
bench/pip_bench_LIBS := maprdl map rdl util
bench/pip_bench_LDLIBS = $(filter-out -lcurl,$(shell xmlrpc-c-config client --libs))
$(BUILD)/bench/pip_bench: $(BUILD)/bin/pipd
