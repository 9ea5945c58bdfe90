#!/bin/sh
# pipd end to end with a real data plane (needs root).
#
# Builds the substrate of tests/pipd-e2e/substrate.yaml out of network
# namespaces (hosts h1 and h2, each with a bridge, joined by veth pairs
# through a switch namespace, as in tests/vlan_netns_test.sh), writes the
# matching dataplane map, starts a private MariaDB and the real pipd on a
# free loopback port, and drives it over XML-RPC with tests/pip_rpc:
# negotiates and confirms two CloudNets of netns VNodes ("red" and "blue",
# both in 10.0.0.0/24), starts them, shows with ping that the VNodes of one
# CloudNet reach each other across the switch and not the other's, checks
# status, modifies red while it runs (a VNode and a link more: the VNode
# that is not touched keeps its namespace and keeps running, and so does the
# netns VNode that gains the new link, its interface added in place) and
# back again (that VNode loses the link, still in place); two modifies that
# fail (a new link that cannot be embedded, an interface that cannot be
# added in place) leave red as it was; releases them
# and counts that every namespace, veth, VXLAN device,
# per-tag bridge, VLAN membership and database row made for them is gone.
# Bad requests (too much CPU, an image the PIP lacks, malformed YAML) fail
# with their fault codes and change nothing.
#
# The bridge mode (VLAN filtering or VXLAN, see docs/embedding.md) is
# chosen from what the kernel supports and printed. Everything is named
# with a prefix unique to this run and removed on exit (PIPD_E2E_DEBUG=1
# keeps it for inspection).
set -u

PIPD_EXTRA="max-lease 600"
. "${TEST_SRCDIR:-$(pwd)/tests}/pipd-e2e/lib.sh"
RED=$P-red
BLUE=$P-blue
CLOUDNETS="$RED $BLUE"

before=$(netns_snapshot)
equal "nothing of ours before the test" "$(count_ours)" 0
equal "the database holds no CloudNet" "$(db_live)" "0 0 0"
cpu_before=$(free_cpu)
equal "describe offers the netns and KVM hosts' CPUs" "$cpu_before" 12

# ---- bad requests change nothing ----

fault "too much CPU is infeasible (fault 8)" 8 negotiate "$P-greedy" "@$DATA/too-much-cpu.yaml" i:60
fault "an image the PIP lacks fails the embedding (fault 11)" 11 negotiate "$P-noimage" \
    "@$DATA/unknown-image.yaml" i:60
has "the fault names the missing image" "$TMP/out" "no-such-image"
fault "malformed YAML is refused (fault 1)" 1 negotiate "$P-broken" "@$DATA/malformed.yaml" i:60
has "the fault gives ID:LINE:COLUMN" "$TMP/out" "^fault 1: $P-broken:[0-9]+:[0-9]+: "
fault "a zero lease is refused (fault 1)" 1 negotiate "$P-zero" "@$DATA/red.yaml" i:0
equal "the failed negotiation is recorded as failed" \
    "$(sql "select state from reservation where id = '$P-noimage'")" failed
equal "no reservation for the refused requests" \
    "$(sql "select count(*) from reservation where id in ('$P-greedy','$P-broken','$P-zero')")" 0
equal "bad requests left nothing in the database" "$(db_live)" "0 0 0"
equal "bad requests left nothing on the substrate" "$(count_ours)" 0
equal "bad requests left the free CPU as it was" "$(free_cpu)" "$cpu_before"
PIP_SECRET=other-secret-$$ rpc describe >/dev/null 2>&1
equal "an unknown secret is refused (fault 2)" "$?" 12

# ---- two CloudNets ----

check "negotiate red" rpc negotiate "$RED" "@$DATA/red.yaml" i:120
check "negotiate blue" rpc negotiate "$BLUE" "@$DATA/blue.yaml" i:120
rpc -k manifest_yaml negotiate "$RED" "@$DATA/red.yaml" i:120 >"$TMP/red-ml.yaml" 2>&1
red_tag=$(sed -n 's/.*red-net:.*vlan: \([0-9]*\).*/\1/p' "$TMP/red-ml.yaml")
rpc -k manifest_yaml negotiate "$BLUE" "@$DATA/blue.yaml" i:120 >"$TMP/blue-ml.yaml" 2>&1
blue_tag=$(sed -n 's/.*blue-net:.*vlan: \([0-9]*\).*/\1/p' "$TMP/blue-ml.yaml")
case "$red_tag" in 3[0-9][0-9]) pass "red's manifest has a tag in range ($red_tag)" ;;
*) fail "red's manifest has a tag in range"; indent "$TMP/red-ml.yaml" ;; esac
[ -n "$blue_tag" ] && [ "$blue_tag" != "$red_tag" ] && pass "blue has another tag ($blue_tag)" ||
    fail "blue has another tag (red $red_tag, blue $blue_tag)"
grep -q "red1: {to: h1" "$TMP/red-ml.yaml" && grep -q "red2: {to: h2" "$TMP/red-ml.yaml" &&
    pass "red's VNodes sit on h1 and h2" || fail "red's VNodes sit on h1 and h2"
grep -q "path: \[h1, h1-sw, sw, sw-h2, h2\]" "$TMP/red-ml.yaml" &&
    pass "red's link crosses the switch" || fail "red's link crosses the switch"
equal "red is allocated" "$(rpc -k state status "$RED")" allocated
equal "red1 is defined" "$(rpc -k elements.red1 status "$RED")" defined
equal "the database holds two allocated CloudNets" "$(db_live | cut -d' ' -f1)" 2
equal "each CloudNet holds one tag" "$(sql "select count(distinct tag) from vlan")" 2
equal "the VNode namespaces exist" "$(ip netns list | grep -c "^cn-$P-")" 4
fault "start before confirm is refused (fault 1)" 1 start "$RED"

check "confirm red" rpc confirm "$RED"
check "confirm blue" rpc confirm "$BLUE"
equal "red is provisioned" "$(rpc -k state status "$RED")" provisioned
equal "a provisioned CloudNet has no lease" "$(rpc -k expires status "$RED")" 0
check "start red" rpc start "$RED"
check "start blue" rpc start "$BLUE" a:
equal "red1 is running" "$(rpc -k elements.red1 status "$RED")" running
equal "blue2 is running" "$(rpc -k elements.blue2 status "$BLUE")" running
equal "red-net is configured" "$(rpc -k elements.red-net status "$RED")" configured
equal "console of red1" "$(rpc console "$RED" red1)" "netns:cn-$RED-red1"
equal "the free CPU dropped by four" "$(free_cpu)" "$((cpu_before - 4))"

check "red1 reaches red2 across the switch" pingable "cn-$RED-red1" 10.0.0.2
check "red2 reaches red1" pingable "cn-$RED-red2" 10.0.0.1
check "blue1 reaches blue2 across the switch" pingable "cn-$BLUE-blue1" 10.0.0.4
refuse "red1 cannot reach blue2 (other host)" pingable "cn-$RED-red1" 10.0.0.4
refuse "red1 cannot reach blue1 (same host)" pingable "cn-$RED-red1" 10.0.0.3
refuse "blue2 cannot reach red2 (same host)" pingable "cn-$BLUE-blue2" 10.0.0.2

check "stop red1" rpc stop "$RED" a:red1
equal "red1 is stopped" "$(rpc -k elements.red1 status "$RED")" defined
refuse "a stopped red1 reaches nothing" pingable "cn-$RED-red1" 10.0.0.2
check "powercycle red" rpc powercycle "$RED"
check "red1 reaches red2 again" pingable "cn-$RED-red1" 10.0.0.2

# ---- modify a provisioned CloudNet ----

# red2_side: how many host-side veths red2 has on the link red-side (on h2).
red2_side() {
    ip -n "$P-h2" -o link show | grep -c "alias cloudnet=$RED node=red2 link=red-side\$"
}
# in_red2 PID: whether the process runs inside red2's namespace as it is now
# (a namespace deleted and added again by name would leave it in the old one).
in_red2() {
    [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null &&
        [ "$(stat -L -c %i "/proc/$1/ns/net")" = "$(stat -c %i "/run/netns/cn-$RED-red2")" ]
}

red1_ns=$(stat -c %i "/run/netns/cn-$RED-red1" 2>/dev/null)
red2_ns=$(stat -c %i "/run/netns/cn-$RED-red2" 2>/dev/null)
# A process inside red2: a re-created VNode would lose it with its namespace.
ip netns exec "cn-$RED-red2" sleep 300 &
red2_pid=$!
sleep 0.2
check "a process runs in red2's namespace" in_red2 "$red2_pid"
fault "a modify whose new link cannot be embedded fails (fault 11)" 11 modify "$RED" \
    "@$DATA/red-bad-more.yaml"
has "the fault names the new link" "$TMP/out" "embedding 'red-side'"
equal "after the failed modify red2 is the same namespace" \
    "$(stat -c %i "/run/netns/cn-$RED-red2" 2>/dev/null)" "$red2_ns"
check "the process in red2 survived the failed modify" in_red2 "$red2_pid"
equal "red2 has no veth on the link of the failed modify" "$(red2_side)" 0
refuse "red2 has no eth1 after the failed modify" ip -n "cn-$RED-red2" link show eth1
refuse "status does not list red3 after the failed modify" rpc -k elements.red3 status "$RED"
equal "red2 still runs after the failed modify" "$(rpc -k elements.red2 status "$RED")" running
check "red1 reaches red2 after the failed modify" pingable "cn-$RED-red1" 10.0.0.2
# A device in the way of red2's new eth1 makes the change in place fail after
# red3 and the new link were embedded: all of it must be taken back.
check "a device named eth1 is put in red2" \
    ip -n "cn-$RED-red2" link add eth1 type veth peer name blocker
fault "a modify whose interface cannot be added to red2 fails (fault 11)" 11 modify "$RED" \
    "@$DATA/red-more.yaml"
has "the fault names red2's links" "$TMP/out" "changing the links of 'red2'"
equal "after the failed change in place red2 is the same namespace" \
    "$(stat -c %i "/run/netns/cn-$RED-red2" 2>/dev/null)" "$red2_ns"
check "the process in red2 survived the failed change in place" in_red2 "$red2_pid"
equal "red2 has no veth on the new link after the failed change" "$(red2_side)" 0
equal "red3's namespace was taken back" "$(ip netns list | grep -c "^cn-$RED-red3")" 0
refuse "status does not list red3 after the failed change" rpc -k elements.red3 status "$RED"
check "red1 reaches red2 after the failed change in place" pingable "cn-$RED-red1" 10.0.0.2
check "the device in the way is removed" ip -n "cn-$RED-red2" link del eth1
check "modify red: a VNode and a link more" rpc modify "$RED" "@$DATA/red-more.yaml"
equal "red stays provisioned" "$(rpc -k state status "$RED")" provisioned
equal "red1 was not re-created" "$(stat -c %i "/run/netns/cn-$RED-red1" 2>/dev/null)" "$red1_ns"
equal "red1 still runs" "$(rpc -k elements.red1 status "$RED")" running
equal "red2, which gained a link, was not re-created" \
    "$(stat -c %i "/run/netns/cn-$RED-red2" 2>/dev/null)" "$red2_ns"
check "the process in red2 survived the modify" in_red2 "$red2_pid"
equal "red2 still runs" "$(rpc -k elements.red2 status "$RED")" running
equal "red2 has a host-side veth on the new link" "$(red2_side)" 1
check "red2's new interface eth1 is up" sh -c \
    "ip -n cn-$RED-red2 -o link show eth1 | grep -q 'state UP'"
equal "the new red3 was started" "$(rpc -k elements.red3 status "$RED")" running
check "red1 still reaches red2" pingable "cn-$RED-red1" 10.0.0.2
check "red3 reaches red2 over the new link" pingable "cn-$RED-red3" 10.0.1.2
check "red2 reaches red3 over the new link" pingable "cn-$RED-red2" 10.0.1.3
refuse "red3 cannot reach blue" pingable "cn-$RED-red3" 10.0.0.4

check "modify red back: red2 loses the link, red3 goes" rpc modify "$RED" "@$DATA/red.yaml"
equal "red stays provisioned after the modify back" "$(rpc -k state status "$RED")" provisioned
equal "red2 was still not re-created" \
    "$(stat -c %i "/run/netns/cn-$RED-red2" 2>/dev/null)" "$red2_ns"
check "the process in red2 survived the modify back" in_red2 "$red2_pid"
equal "red2 still runs after losing a link" "$(rpc -k elements.red2 status "$RED")" running
equal "red2's host-side veth of the lost link is gone" "$(red2_side)" 0
refuse "red2 has no eth1 any more" ip -n "cn-$RED-red2" link show eth1
refuse "status no longer lists red3" rpc -k elements.red3 status "$RED"
equal "red3's namespace is gone" "$(ip netns list | grep -c "^cn-$RED-red3")" 0
equal "red1 was still not re-created" "$(stat -c %i "/run/netns/cn-$RED-red1" 2>/dev/null)" \
    "$red1_ns"
check "red1 still reaches red2 over the old link" pingable "cn-$RED-red1" 10.0.0.2
refuse "red2 no longer reaches red3's address" pingable "cn-$RED-red2" 10.0.1.3
kill "$red2_pid" 2>/dev/null
wait "$red2_pid" 2>/dev/null

# ---- release ----

check "release red" rpc release "$RED"
equal "red is released" "$(rpc -k state status "$RED")" released
equal "red-net is absent" "$(rpc -k elements.red-net status "$RED")" absent
equal "red's namespaces are gone" "$(ip netns list | grep -c "^cn-$RED-")" 0
check "blue still works without red" pingable "cn-$BLUE-blue1" 10.0.0.4
check "release red again" rpc release "$RED"
check "release blue" rpc release "$BLUE"
fault "start after release is refused (fault 1)" 1 start "$BLUE"
equal "no namespace, veth, VXLAN device, tag bridge or tag of ours remains" "$(count_ours)" 0
equal "the substrate is as it was" "$(netns_snapshot)" "$before"
equal "the database holds no live CloudNet, allocation or tag" "$(db_live)" "0 0 0"
equal "the free CPU is back" "$(free_cpu)" "$cpu_before"
"$BUILD/bin/pipctl" --socket "$SOCK" --database pipd_e2e list >"$TMP/list" 2>&1
equal "pipctl lists both CloudNets as released" \
    "$(grep -cE "^$P-(red|blue)[[:space:]]+released" "$TMP/list")" 2

stop_pipd TERM
equal "pipd stops cleanly on SIGTERM" "$?" 0
sanitizer_clean pipd "$TMP/pipd.log"

finish
