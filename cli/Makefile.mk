PROGRAMS += cloudnet
cloudnet_SRCS := $(sort $(wildcard cli/*.c))
cloudnet_LIBS := vnpc maprdl map rdl util
INSTALL_BIN += cloudnet

TEST_SCRIPTS += tests/cli_test.sh

# The network verbs against a real pipd (MariaDB, libvirt test driver).
TEST_SCRIPTS += tests/cli_net_test.sh
