PROGRAMS += cloudnet
cloudnet_SRCS := $(sort $(wildcard cli/*.c))
cloudnet_LIBS := maprdl map rdl util
INSTALL_BIN += cloudnet

TEST_SCRIPTS += tests/cli_test.sh

# For now the demo checks, completes and draws the examples; the lead wires
# the federation (daemons, database) into it later.
demo: all
	@BUILD=$(BUILD) sh scripts/demo.sh

.PHONY: demo
