#!/bin/sh
# The data-plane test of the embedding component (needs root).
#
# Builds a small substrate out of network namespaces: two hosts, each with
# a bridge, joined through a switch namespace with its own bridge by veth
# pairs. Then embeds two CloudNets of netns VNodes ("red", tag 100, and
# "blue", tag 200, both in 10.0.0.0/24) through the embedding API
# (tests/emb_dataplane), shows with ping that the VNodes of one CloudNet
# reach each other and not the other's, releases them and counts that every
# namespace, veth, VLAN membership and tunnel made for them is gone.
#
# Kernels with bridge VLAN filtering get VLAN mode (802.1Q on the trunks);
# kernels without it (no CONFIG_BRIDGE_VLAN_FILTERING) get VXLAN mode, in
# which each tag has its own bridge and the trunks carry VXLAN. The mode in
# use is printed.
#
# Everything the test makes is named with a prefix unique to this run and
# removed on exit, whatever happened (EMB_DEBUG=1 keeps it for inspection).
set -u

BUILD=${BUILD:-build}
SRC=${TEST_SRCDIR:-$(pwd)/tests}
DRV=$BUILD/tests/emb_dataplane
DATA=$SRC/embedding
P=cnt$$
RED=$P-red
BLUE=$P-blue
. "$SRC/lib/check.sh"
. "$SRC/lib/netns.sh"
TMP=$(mktemp -d /tmp/emb-dataplane-XXXXXX)
DP=$TMP/dataplane.conf

drv() { # drv CLOUDNET NAME VERB [MAP]
    "$DRV" "${4:-$DP}" "$1" "$DATA/substrate.yaml" "$DATA/$2.yaml" "$DATA/$2-map.yaml" "$3"
}

cleanup() {
    drv "$RED" red release >/dev/null 2>&1
    drv "$BLUE" blue release >/dev/null 2>&1
    netns_remove
    rm -rf "$TMP"
}
on_exit cleanup "${EMB_DEBUG:-}"

need_root
need_built "$DRV"

# ---- the substrate ----

netns_probe || give_up "cannot make a network namespace"
echo "bridge mode: $mode"
netns_line "$DP" "written by tests/vlan_netns_test.sh" || give_up "building the substrate failed"
# The same map without the ports of sw-h2, for the failure case.
grep -v 'port sw-h2' "$DP" >"$TMP/broken.conf"

# Everything made for the CloudNets: VNode namespaces, owned devices,
# per-tag bridges, and the CloudNets' tags on any bridge port.
count_ours() {
    netns_count_ours '100|200'
}
before=$(netns_snapshot)
equal "nothing of ours before the test" "$(count_ours)" 0

# ---- a failure halfway is undone ----

refuse "embedding with a map that lacks a port fails" drv "$RED" red embed "$TMP/broken.conf"
has "the error names the missing port" "$TMP/out" "no port of underlay link 'sw-h2' at 'sw'"
equal "the failed embedding left nothing" "$(count_ours)" 0

# ---- two CloudNets ----

check "embed red" drv "$RED" red embed
check "embed blue" drv "$BLUE" blue embed
refuse "embedding red again is refused" drv "$RED" red embed
check "red status" drv "$RED" red status
equal "red is defined, not running" "$(cat "$TMP/out" | tr '\n' ' ')" "red1 defined red2 defined "
check "start red" drv "$RED" red start
check "start blue" drv "$BLUE" blue start
drv "$RED" red status >"$TMP/out" 2>&1
equal "red is running" "$(cat "$TMP/out" | tr '\n' ' ')" "red1 running red2 running "

drv "$RED" red leftovers >"$TMP/left" 2>&1
# Two namespaces, two host-side veths, and the tag at both ends of both underlay links.
equal "leftover scan lists red's namespaces, veths and trunk tags" "$(wc -l <"$TMP/left")" 8

check "red1 reaches red2 across the switch" pingable "cn-$RED-red1" 10.0.0.2
check "blue1 reaches blue2 across the switch" pingable "cn-$BLUE-blue1" 10.0.0.4
check "red2 reaches red1" pingable "cn-$RED-red2" 10.0.0.1
refuse "red1 cannot reach blue2 (other host)" pingable "cn-$RED-red1" 10.0.0.4
refuse "red1 cannot reach blue1 (same host)" pingable "cn-$RED-red1" 10.0.0.3
refuse "blue2 cannot reach red2 (same host)" pingable "cn-$BLUE-blue2" 10.0.0.2
refuse "blue1 cannot reach red2" pingable "cn-$BLUE-blue1" 10.0.0.2

check "stop red" drv "$RED" red stop
refuse "a stopped red1 reaches nothing" pingable "cn-$RED-red1" 10.0.0.2
check "start red again" drv "$RED" red start
check "red1 reaches red2 again" pingable "cn-$RED-red1" 10.0.0.2

# ---- release ----

check "release red" drv "$RED" red release
drv "$RED" red leftovers >"$TMP/left" 2>&1
equal "nothing of red is left" "$(wc -l <"$TMP/left")" 0
check "blue still works without red" pingable "cn-$BLUE-blue1" 10.0.0.4
check "release red again" drv "$RED" red release
check "release blue" drv "$BLUE" blue release
drv "$BLUE" blue leftovers >"$TMP/left" 2>&1
equal "nothing of blue is left" "$(wc -l <"$TMP/left")" 0
equal "no namespace, veth, VLAN or tunnel of ours remains" "$(count_ours)" 0
equal "the substrate is as it was" "$(netns_snapshot)" "$before"

finish
