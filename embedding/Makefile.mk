# The embedding component: the plugin table (libvirt, netns, vlan, transit, border)
# that realises mapped CloudNets. Only these files include libvirt and
# libxml2; the clipd client library provides VNode disks.
LIBRARIES += emb
emb_SRCS := $(sort $(wildcard embedding/*.c))
emb_LDLIBS = $(shell pkg-config --libs libvirt libxml-2.0)
embedding_CFLAGS = $(shell pkg-config --cflags libvirt libxml-2.0)

# Plugin selection, the dataplane map, the libvirt plugin against the test
# driver (images by plain copy and through a real clipd).
TEST_PROGRAMS += tests/embedding_test
tests/embedding_test_SRCS := tests/embedding_test.c
tests/embedding_test_LIBS := emb clip rdl util
tests_CFLAGS += $(shell pkg-config --cflags libxml-2.0)

# The data-plane test: tests/vlan_netns_test.sh builds a substrate of
# network namespaces and drives the embedding through tests/emb_dataplane,
# a helper program (not a test of its own, so not in TEST_PROGRAMS).
EMB_DATAPLANE := $(BUILD)/tests/emb_dataplane
$(EMB_DATAPLANE): $(BUILD)/tests/emb_dataplane.o $(BUILD)/libemb.a $(BUILD)/libclip.a \
		$(BUILD)/librdl.a $(BUILD)/libutil.a
	@mkdir -p $(@D)
	$(CC) $(BASE_LDFLAGS) $(LDFLAGS) -o $@ $^ $(emb_LDLIBS) $(clip_LDLIBS) $(rdl_LDLIBS) -lm
check: $(EMB_DATAPLANE)
TEST_SCRIPTS += tests/vlan_netns_test.sh

# Two PIPs of namespaces joined by a transit wire, each embedding its half
# of CloudNets that cross it (same tag, isolation, a translated tag), through
# the same helper.
TEST_SCRIPTS += tests/transit_netns_test.sh
