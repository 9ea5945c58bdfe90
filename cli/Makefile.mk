PROGRAMS += cloudnet
cloudnet_SRCS := $(sort $(wildcard cli/*.c))
cloudnet_LIBS := rdl util
INSTALL_BIN += cloudnet

TEST_SCRIPTS += tests/cli_test.sh
