# vnpd over the wire: negotiation latency through the broker, parallel
# against serial against the slowest PIP, and CloudNets per second
# (bench/vnp_bench.c starts its own MariaDB, three pipd and three vnpd;
# docs/vnpd-bench.md has the figures).
BENCH_PROGRAMS += bench/vnp_bench
bench/vnp_bench_SRCS := bench/vnp_bench.c
bench/vnp_bench_LIBS := vnpc vnpplan maprdl map rdl util
$(BUILD)/bench/vnp_bench: $(BUILD)/bin/pipd $(BUILD)/bin/vnpd
