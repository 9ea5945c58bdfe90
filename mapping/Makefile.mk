# The mapping engine, its tests and the online VNE benchmark.
LIBRARIES += map
map_SRCS := mapping/objects.c mapping/solve.c mapping/heuristic.c mapping/grc.c mapping/search.c \
	mapping/mip.c
map_LDLIBS := -lglpk
mapping_CFLAGS :=

bench_CFLAGS += $(shell pkg-config --cflags json-c)
BENCH_PROGRAMS += bench/vne
bench/vne_SRCS := bench/vne.c bench/vne_gen.c bench/vne_json.c bench/vne_svg.c
bench/vne_LIBS := map util
bench/vne_LDLIBS := $(shell pkg-config --libs json-c)

TEST_PROGRAMS += tests/mapping_core_test
tests/mapping_core_test_SRCS := tests/mapping_core_test.c
tests/mapping_core_test_LIBS := map util
