#!/bin/sh
# The data-plane test of transit links (needs root): two PIPs joined by a
# wire, each embedding its half of a CloudNet that crosses (docs/federation.md).
#
# Each PIP is a host namespace and a border namespace joined by a veth pair,
# with its own underlay and dataplane map and its own embedding context
# (tests/emb_dataplane). The two border ports are the ends of a second veth
# pair, the transit wire "t1". A CloudNet has a netns VNode on each side and
# one virtual link crossing t1; each side embeds its partial graph: the
# VNode, the crossing link as a /link/transit element, and the stub node of
# the far side mapped onto the border node. Checks that the two halves
# ping, that a second CloudNet on the same wire is isolated from the first,
# that a link whose tag differs on the two sides (3001 here, 3005 there,
# 3001 on the wire) pings too, that the wire devices carry the wire tag,
# and that release removes everything on both sides.
#
# Both PIPs share this machine's kernel, so each side embeds under an id of
# its own (the same id would find the other side's VNode namespace and
# refuse to embed over it); on separate machines they use the CloudNet's id.
#
# Bridge mode: VLAN where the kernel has bridge VLAN filtering, VXLAN
# otherwise. Wire: 802.1Q where the kernel has VLAN devices, otherwise
# VXLAN with the wire tag as VNI (the dataplane map's `remote`). Both are
# printed. Names carry a prefix unique to this run; everything is removed on
# exit (EMB_DEBUG=1 keeps it for inspection).
set -u

BUILD=${BUILD:-build}
SRC=${TEST_SRCDIR:-$(pwd)/tests}
DRV=$BUILD/tests/emb_dataplane
P=ctt$$
. "$SRC/lib/check.sh"
. "$SRC/lib/netns.sh"
TMP=$(mktemp -d /tmp/emb-transit-XXXXXX)

CLOUDNETS=""

# half SIDE NAME NODE ADDRESS VLAN WIRE: writes the partial graph of CloudNet
# NAME for PIP SIDE (a or b) and its mapping: NODE on the side's host, the
# crossing link "net" with tag VLAN inside the PIP and WIRE on t1, the stub
# of the far side on the border node. WIRE "-" leaves wire_vlan out.
half() {
    s=$1 name=$2 node=$3 addr=$4 vlan=$5 wtag=$6
    if [ "$wtag" = - ]; then
        olf="{vlan: $vlan}"
        mlf=""
    else
        olf="{vlan: $vlan, wire_vlan: $wtag}"
        mlf=", features: {wire_vlan: $wtag}"
    fi
    cat >"$TMP/$name-$s.yaml" <<EOF
rdl: 1
kind: overlay
name: $name
elements:
  $node: {type: /node/host/generic, resources: {cpu: 1}, features: {address: $addr}}
  net: {type: /link/transit, resources: {bandwidth: 10}, features: $olf}
  "transit:t1": {type: /node/host/pip, features: {transit: t1}}
interfaces:
  - {between: [$node, net]}
  - {between: [net, "transit:t1"]}
EOF
    cat >"$TMP/$name-$s-map.yaml" <<EOF
rdl: 1
kind: mapping
name: $name
overlay: $name
underlay: pip-$s
map:
  $node: {to: h$s, resources: {cpu: 1}, features: {address: $addr}}
  "transit:t1": {to: border-$s}
  net: {path: [h$s, h$s-s$s, s$s, t1, border-$s], resources: {bandwidth: 10}, vlan: $vlan$mlf}
EOF
    CLOUDNETS="$CLOUDNETS $s:$name"
}

drv() { # drv SIDE NAME VERB [MAP]: one embedding operation on one PIP
    "$DRV" "${4:-$TMP/dp-$1.conf}" "$P-$2$1" "$TMP/ul-$1.yaml" "$TMP/$2-$1.yaml" \
        "$TMP/$2-$1-map.yaml" "$3"
}

cleanup() {
    for c in $CLOUDNETS; do
        drv "${c%%:*}" "${c#*:}" release >/dev/null 2>&1
    done
    netns_remove
    rm -rf "$TMP"
}
on_exit cleanup "${EMB_DEBUG:-}"

need_root
need_built "$DRV"

# ---- the two PIPs and the wire ----

netns_probe || give_up "cannot make a network namespace"
echo "bridge mode: $mode, wire: $wire"

# side SIDE N: host h$SIDE and border switch s$SIDE; N numbers its addresses.
build_side() {
    s=$1 n=$2
    netns_nodes "${s}h" "${s}b" || return 1
    netns_link "${s}h" p-hs "10.255.$n.1" "${s}b" p-sh "10.255.$n.2" || return 1
    cat >"$TMP/ul-$s.yaml" <<EOF
rdl: 1
kind: underlay
name: pip-$s
vlan_range: [3000, 3099]
elements:
  h$s: {type: /node/host/server/netns, resources: {cpu: 4, memory: 4096}}
  s$s: {type: /node/switch}
  h$s-s$s: {type: /link/ethernet/vlan, resources: {bandwidth: 1000}}
  t1: {type: /link/transit, resources: {bandwidth: 1000}, vlan_range: [3000, 3099]}
  border-$s: {type: /node/host/pip, features: {transit: t1, forwarding: false}}
interfaces:
  - {between: [h$s, h$s-s$s]}
  - {between: [h$s-s$s, s$s]}
  - {between: [s$s, t1]}
  - {between: [t1, border-$s]}
EOF
}

build_substrate() {
    build_side a 1 || return 1
    build_side b 2 || return 1
    netns_wire ab w-ab 10.255.9.1 bb w-ba 10.255.9.2 || return 1
    for s in a b; do
        n=1
        [ $s = b ] && n=2
        if [ $s = a ]; then me=w-ab my=10.255.9.1 far=10.255.9.2; else me=w-ba my=10.255.9.2 far=10.255.9.1; fi
        remote=""
        [ "$wire" = vxlan ] && remote=" remote $far"
        {
            echo "# PIP $s of tests/transit_netns_test.sh"
            echo "node h$s netns $P-${s}h bridge br0 mode $mode"
            echo "node s$s netns $P-${s}b bridge br0 mode $mode"
            echo "port h$s-s$s h$s p-hs address 10.255.$n.1"
            echo "port h$s-s$s s$s p-sh address 10.255.$n.2"
            echo "port t1 s$s $me address $my$remote"
        } >"$TMP/dp-$s.conf"
        grep -v '^port t1' "$TMP/dp-$s.conf" >"$TMP/dp-$s-noport.conf"
    done
}

build_substrate || give_up "building the substrate failed"

# VNode namespaces, owned devices (veths, VXLAN and wire devices), per-tag
# bridges and, in VLAN mode, the test's tags on any bridge port.
count_ours() {
    netns_count_ours '300[0-9]'
}

before=$(netns_snapshot)
equal "nothing of ours before the test" "$(count_ours)" 0

half a c1 n1 10.0.0.1/24 3001 3001
half b c1 n2 10.0.0.2/24 3001 -
half a c2 n3 10.0.0.3/24 3002 3002
half b c2 n4 10.0.0.4/24 3002 3002
half a bad n1 10.0.0.1/24 3003 5000
half a out n1 10.0.0.1/24 3300 3300

# ---- refusals leave nothing ----

refuse "a map without the border port is refused" drv a c1 embed "$TMP/dp-a-noport.conf"
has "the error names the transit link" "$TMP/out" "no port of transit link 't1' at either end"
refuse "a wire tag that is no VLAN tag is refused" drv a bad embed
has "the error names the wire tag" "$TMP/out" "wire tag .* of 'net' on transit link 't1'"
refuse "a tag outside the transit link's range is refused" drv a out embed
has "the error gives the range" "$TMP/out" "tag 3300 is outside the range 3000-3099 of 't1'"
equal "the refusals left nothing" "$(count_ours)" 0

# ---- two CloudNets across the wire ----

check "embed c1 at PIP a" drv a c1 embed
check "embed c1 at PIP b (no wire_vlan: the local tag)" drv b c1 embed
check "embed c2 at PIP a" drv a c2 embed
check "embed c2 at PIP b" drv b c2 embed
drv a c1 status >"$TMP/out" 2>&1
equal "the VNode is defined, the far side remote" "$(sort "$TMP/out" | tr '\n' ' ')" \
    "n1 defined transit:t1 remote "
for c in a:c1 b:c1 a:c2 b:c2; do
    check "start $c (the stub too)" drv "${c%%:*}" "${c#*:}" start
done
drv b c2 status >"$TMP/out" 2>&1
equal "c2 at b is running" "$(sort "$TMP/out" | tr '\n' ' ')" "n4 running transit:t1 remote "
drv a c1 leftovers >"$TMP/left" 2>&1
has "the leftover scan lists the wire device" "$TMP/left" "^transit $P-ab/cn[0-9a-f]{11}t$"
equal "one wire device for c1 at a" "$(grep -c '^transit ' "$TMP/left")" 1

check "c1: a reaches b across the wire" pingable "cn-$P-c1a-n1" 10.0.0.2
check "c1: b reaches a" pingable "cn-$P-c1b-n2" 10.0.0.1
check "c2: a reaches b across the wire" pingable "cn-$P-c2a-n3" 10.0.0.4
refuse "c1 at a cannot reach c2 at b" pingable "cn-$P-c1a-n1" 10.0.0.4
refuse "c2 at a cannot reach c1 at b" pingable "cn-$P-c2a-n3" 10.0.0.2

wire_dev ab "$P-c2a" >"$TMP/out" 2>&1
if [ "$wire" = 8021q ]; then
    has "c2's wire device at a carries tag 3002" "$TMP/out" "vlan protocol 802.1Q id 3002 "
else
    has "c2's wire device at a carries VNI 3002" "$TMP/out" "vxlan id 3002 "
fi

check "release c1 at a" drv a c1 release
check "release c1 at b" drv b c1 release
drv a c1 leftovers >"$TMP/left" 2>&1
equal "nothing of c1 is left at a" "$(wc -l <"$TMP/left")" 0
drv b c1 leftovers >"$TMP/left" 2>&1
equal "nothing of c1 is left at b" "$(wc -l <"$TMP/left")" 0
check "c2 still works without c1" pingable "cn-$P-c2a-n3" 10.0.0.4

# ---- a tag translated at one border ----

half a c3 n5 10.0.0.5/24 3001 3001
half b c3 n6 10.0.0.6/24 3005 3001
check "embed c3 at PIP a (3001, wire 3001)" drv a c3 embed
check "embed c3 at PIP b (3005, wire 3001)" drv b c3 embed
check "start c3 at a" drv a c3 start
check "start c3 at b" drv b c3 start
check "c3: a reaches b through the translation" pingable "cn-$P-c3a-n5" 10.0.0.6
check "c3: b reaches a" pingable "cn-$P-c3b-n6" 10.0.0.5
refuse "c3 at a cannot reach c2 at b" pingable "cn-$P-c3a-n5" 10.0.0.4
refuse "c2 at b cannot reach c3 at a" pingable "cn-$P-c2b-n4" 10.0.0.5
wire_dev bb "$P-c3b" >"$TMP/out" 2>&1
if [ "$wire" = 8021q ]; then
    has "c3's wire device at b carries the wire tag 3001" "$TMP/out" "vlan protocol 802.1Q id 3001 "
else
    has "c3's wire device at b carries the wire VNI 3001" "$TMP/out" "vxlan id 3001 "
fi
if [ "$mode" = vxlan ]; then
    has "c3's wire device at b is in the bridge of tag 3005" "$TMP/out" " master cnb3005 "
else
    bridge -n "$P-bb" vlan show >"$TMP/out" 2>&1
    has "c3's wire device at b has PVID 3005" "$TMP/out" "3005 PVID"
fi

# The wire tag is what joins the two halves: halves that disagree on it
# (3003 at a, 3004 at b, both with local tag 3003) stay apart.
half a c4 n7 10.0.0.7/24 3003 3003
half b c4 n8 10.0.0.8/24 3003 3004
check "embed c4 at PIP a (wire 3003)" drv a c4 embed
check "embed c4 at PIP b (wire 3004)" drv b c4 embed
check "start c4 at a" drv a c4 start
check "start c4 at b" drv b c4 start
refuse "c4: halves with different wire tags do not meet" pingable "cn-$P-c4a-n7" 10.0.0.8

# ---- release ----

# A device with the wire device's name but another owner's alias is not ours.
wdev=$(ip -n "$P-ab" -o link show | grep "alias cloudnet=$P-c2a transit=" |
    awk -F': ' '{print $2}' | cut -d@ -f1)
ip -n "$P-ab" link set dev "$wdev" alias "cloudnet=someone-else transit=net ullink=t1"
refuse "release leaves a device with another owner's alias alone" drv a c2 release
has "the error names that device" "$TMP/out" "$wdev in $P-ab is not the wire device of 'net' on 't1'"
check "that device is still there" ip -n "$P-ab" link show dev "$wdev"
ip -n "$P-ab" link set dev "$wdev" alias "cloudnet=$P-c2a transit=net ullink=t1"

for c in a:c4 b:c4 a:c3 b:c3 a:c2 b:c2; do
    check "release $c" drv "${c%%:*}" "${c#*:}" release
done
check "release c3 at b again" drv b c3 release
equal "no namespace, device, bridge or tag of ours remains" "$(count_ours)" 0
equal "both PIPs are as they were" "$(netns_snapshot)" "$before"

finish
