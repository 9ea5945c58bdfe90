# The federation end to end (needs root): two pipd on substrates of network
# namespaces joined by a transit wire, brokered by two vnpd; CloudNets
# negotiated through the VNPs ping across the wire (tests/federation/).
check: $(PIP_RPC) $(BUILD)/bin/pipd $(BUILD)/bin/vnpd $(BUILD)/bin/pipctl $(BUILD)/bin/cloudnet
TEST_SCRIPTS += tests/federation_test.sh
