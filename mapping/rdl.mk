# The mapping engine's RDL face (map_rdl_solve, map_rdl_check, map_rdl_rebalance) and its tests.
LIBRARIES += maprdl
maprdl_SRCS := mapping/rdl_map.c mapping/rdl_check.c mapping/rdl_rebalance.c
maprdl_LDLIBS :=

TEST_PROGRAMS += tests/map_rdl_test
tests/map_rdl_test_SRCS := tests/map_rdl_test.c
tests/map_rdl_test_LIBS := maprdl map rdl util

TEST_SCRIPTS += tests/rebalance_test.sh
