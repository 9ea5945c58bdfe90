LIBRARIES += util
util_SRCS := util/buf.c util/err.c util/misc.c util/log.c util/strmap.c util/conf.c util/daemon.c
util_LDLIBS :=

# The shared configuration reader; the daemons' directives are tested with
# the daemons.
TEST_PROGRAMS += tests/util_conf_test
tests/util_conf_test_SRCS := tests/util_conf_test.c
tests/util_conf_test_LIBS := util
