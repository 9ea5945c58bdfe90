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
TMP=$(mktemp -d /tmp/emb-dataplane-XXXXXX)
DP=$TMP/dataplane.conf
pass=0
fail=0

ok() {
    pass=$((pass + 1))
    echo "ok   $1"
}

bad() {
    fail=$((fail + 1))
    echo "FAIL $1"
}

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    d=$1
    shift
    if "$@" >"$TMP/out" 2>&1; then ok "$d"; else bad "$d"; sed 's/^/  /' "$TMP/out"; fi
}

# refuse DESCRIPTION COMMAND...: passes when the command fails.
refuse() {
    d=$1
    shift
    if "$@" >"$TMP/out" 2>&1; then bad "$d"; sed 's/^/  /' "$TMP/out"; else ok "$d"; fi
}

# equal DESCRIPTION GOT EXPECTED
equal() {
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1 (got $2, expected $3)"; fi
}

drv() { # drv CLOUDNET NAME VERB [MAP]
    "$DRV" "${4:-$DP}" "$1" "$DATA/substrate.yaml" "$DATA/$2.yaml" "$DATA/$2-map.yaml" "$3"
}

cleanup() {
    drv "$RED" red release >/dev/null 2>&1
    drv "$BLUE" blue release >/dev/null 2>&1
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        case $ns in
        "$P"-* | cn-"$P"-*) ip netns del "$ns" 2>/dev/null ;;
        esac
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
[ -n "${EMB_DEBUG:-}" ] && trap - EXIT
trap 'exit 1' INT TERM

if [ "$(id -u)" -ne 0 ]; then
    echo "vlan_netns_test: needs root (network namespaces)"
    echo "0 passed, 1 failed"
    exit 1
fi
if [ ! -x "$DRV" ]; then
    echo "vlan_netns_test: $DRV is not built"
    echo "0 passed, 1 failed"
    exit 1
fi

# ---- the substrate ----

mode=vlan
ip netns add "$P-probe"
ip -n "$P-probe" link add br0 type bridge vlan_filtering 1 2>/dev/null || mode=vxlan
ip netns del "$P-probe"
echo "bridge mode: $mode"

build_substrate() {
    for n in h1 sw h2; do
        ip netns add "$P-$n" || return 1
        ip -n "$P-$n" link set lo up || return 1
        if [ $mode = vlan ]; then
            ip -n "$P-$n" link add br0 type bridge vlan_filtering 1 || return 1
        else
            ip -n "$P-$n" link add br0 type bridge || return 1
        fi
        ip -n "$P-$n" link set br0 up || return 1
    done
    ip -n "$P-h1" link add p-h1sw type veth peer name p-swh1 netns "$P-sw" || return 1
    ip -n "$P-sw" link add p-swh2 type veth peer name p-h2sw netns "$P-h2" || return 1
    # node port-device address
    while read -r n dev addr; do
        if [ $mode = vlan ]; then
            ip -n "$P-$n" link set "$dev" master br0 || return 1
        else
            ip -n "$P-$n" addr add "$addr/30" dev "$dev" || return 1
        fi
        ip -n "$P-$n" link set "$dev" up || return 1
    done <<EOF
h1 p-h1sw 10.255.1.1
sw p-swh1 10.255.1.2
sw p-swh2 10.255.2.1
h2 p-h2sw 10.255.2.2
EOF
    {
        echo "# written by tests/vlan_netns_test.sh"
        for n in h1 sw h2; do
            echo "node $n netns $P-$n bridge br0 mode $mode"
        done
        echo "port h1-sw h1 p-h1sw address 10.255.1.1"
        echo "port h1-sw sw p-swh1 address 10.255.1.2"
        echo "port sw-h2 sw p-swh2 address 10.255.2.1"
        echo "port sw-h2 h2 p-h2sw address 10.255.2.2"
    } >"$DP"
    # The same map without the ports of sw-h2, for the failure case.
    grep -v 'port sw-h2' "$DP" >"$TMP/broken.conf"
}

if ! build_substrate; then
    echo "FAIL building the substrate"
    echo "0 passed, 1 failed"
    exit 1
fi

# What the substrate holds before any CloudNet: devices per namespace.
snapshot() {
    for n in h1 sw h2; do
        printf '%s:' "$n"
        ip -n "$P-$n" -o link show | awk -F': ' '{print $2}' | sort | tr '\n' ' '
        echo
    done
}
# Everything made for the CloudNets: VNode namespaces, owned devices
# (veths and VXLAN devices carry "cloudnet=ID" aliases), per-tag bridges,
# and the CloudNets' tags on any bridge port.
count_ours() {
    c=$(ip netns list | awk '{print $1}' | grep -c "^cn-$P-")
    for n in h1 sw h2; do
        c=$((c + $(ip -n "$P-$n" -o link show | grep -c "alias cloudnet=$P-")))
        c=$((c + $(ip -n "$P-$n" -o link show | grep -c ': cnb[0-9]*:')))
        if [ $mode = vlan ]; then
            c=$((c + $(bridge -n "$P-$n" vlan show | grep -cwE '100|200')))
        fi
    done
    echo "$c"
}
before=$(snapshot)
equal "nothing of ours before the test" "$(count_ours)" 0

# ---- a failure halfway is undone ----

refuse "embedding with a map that lacks a port fails" drv "$RED" red embed "$TMP/broken.conf"
grep -q "no port of underlay link 'sw-h2' at 'sw'" "$TMP/out" &&
    ok "the error names the missing port" || bad "the error names the missing port"
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

pingable() { # pingable NETNS ADDRESS
    ip netns exec "$1" ping -c 3 -i 0.2 -W 1 "$2"
}
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
equal "the substrate is as it was" "$(snapshot)" "$before"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
