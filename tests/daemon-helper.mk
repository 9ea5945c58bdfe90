# The scaffolding the black-box tests of the daemons share
# (tests/daemon-helper.h), tested on its own with a stand-in daemon.
TEST_PROGRAMS += tests/daemon_helper_test
tests/daemon_helper_test_SRCS := tests/daemon_helper_test.c
tests/daemon_helper_test_LIBS :=
