# vnpd's planner: underlay, partial graphs and VLAN tags, manifest merge
# (docs/federation.md). Pure functions, so its test needs no daemon; it
# links the client library for vnp_description_free().
LIBRARIES += vnpplan
vnpplan_SRCS := vnp/plan.c
vnpplan_LDLIBS :=

TEST_PROGRAMS += tests/vnp_plan_test
tests/vnp_plan_test_SRCS := tests/vnp_plan_test.c
tests/vnp_plan_test_LIBS := vnpplan vnpc maprdl map rdl util
