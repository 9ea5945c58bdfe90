#!/bin/sh
# The federation end to end over a real data plane (needs root).
#
# Two PIPs, alpha and beta, each a substrate of network namespaces
# (tests/federation/alpha.yaml: hosts a1 and a2 and switch sa;
# beta.yaml: host b1 and switch sb; each host and switch has a bridge), with
# the switch's end of the transit link t1 and a border node for the far side
# (docs/federation.md). The two switches' border ports are joined by a veth
# pair, the wire of t1: 802.1Q where the kernel has VLAN devices, otherwise
# VXLAN with the wire tag as VNI (`remote` in the dataplane map). A private
# MariaDB, one pipd per PIP and two vnpd on loopback ports: vnp1 gives both
# ends of t1 the same tag range, vnp2 disjoint ranges (so every crossing link
# gets a tag of its own at each end and beta translates to alpha's on the
# wire).
#
# Through the VNPs only (tests/pip_rpc, and `cloudnet submit` for one of
# them): CloudNet c1 (negotiate, confirm) and c2 (submit) with netns VNodes on
# both sides in one subnet; the VNodes of each reach each other across t1
# and not the other CloudNet's; c1 modified while it runs (`cloudnet
# modify`: a VNode more at alpha linked across t1 reaches beta, n1 keeps its
# namespace and its link its tag); c3 through vnp2 has different tags on the two
# sides (checked in the manifest and on the wire device) and pings too;
# status through the VNPs; a request the VNP refuses and one alpha refuses
# after beta allocated leave nothing; release through the VNPs, then nothing
# is left at either PIP (namespaces, veth, VXLAN and wire devices, tag
# bridges, VLAN memberships, reservations, allocations and tags in each
# pipd's database) and the VNPs report every CloudNet released.
#
# The bridge mode (VLAN filtering or VXLAN) and the wire are chosen from what
# the kernel supports and printed. Names carry a prefix unique to the run;
# everything is removed on exit (FED_DEBUG=1 keeps it for inspection).
set -u

BUILD=${BUILD:-build}
SRC=${TEST_SRCDIR:-$(pwd)/tests}
DATA=$SRC/federation
RPC=$BUILD/tests/pip_rpc
P=fed$$
. "$SRC/lib/check.sh"
. "$SRC/lib/netns.sh"
. "$SRC/lib/daemons.sh"
TMP=$(mktemp -d /tmp/federation-XXXXXX)
DB=$TMP/db
PIP_PEER_SECRET=fed-pip-secret-$$
CLIENT_SECRET=fed-client-secret-$$
PIDS=
# vnp:id pairs the EXIT trap releases while the daemons still run.
CLOUDNETS=

# Calls: vnp1/vnp2 as the client, alpha/beta as the VNPs' peer.
vnp1() { PIP_SECRET=$CLIENT_SECRET "$RPC" "$VNP1_URL" "$@"; }
vnp2() { PIP_SECRET=$CLIENT_SECRET "$RPC" "$VNP2_URL" "$@"; }
alpha() { PIP_SECRET=$PIP_PEER_SECRET "$RPC" "$ALPHA_URL" "$@"; }
beta() { PIP_SECRET=$PIP_PEER_SECRET "$RPC" "$BETA_URL" "$@"; }

cleanup() {
    for c in $CLOUDNETS; do
        "${c%%:*}" release "${c#*:}" >/dev/null 2>&1
    done
    for pid in $PIDS; do
        daemon_stop "$pid" KILL
    done
    db_stop "$DB"
    netns_remove
    rm -rf "$TMP"
}
on_exit cleanup "${FED_DEBUG:-}"

need_root
need_built "$RPC" "$BUILD/bin/pipd" "$BUILD/bin/vnpd" "$BUILD/bin/pipctl" "$BUILD/bin/cloudnet"
command -v mysql >/dev/null || give_up "the mysql client is not installed"

# ---- the two substrates and the wire ----

netns_probe || give_up "cannot make a network namespace"
echo "bridge mode: $mode, wire: $wire"

build_substrate() {
    netns_nodes a1 a2 sa b1 sb || return 1
    netns_link a1 p-a1sa 10.255.1.1 sa p-saa1 10.255.1.2 || return 1
    netns_link a2 p-a2sa 10.255.2.1 sa p-saa2 10.255.2.2 || return 1
    netns_link b1 p-b1sb 10.255.3.1 sb p-sbb1 10.255.3.2 || return 1
    netns_wire sa w-ab 10.255.9.1 sb w-ba 10.255.9.2 || return 1
    ra="" rb=""
    [ "$wire" = vxlan ] && ra=" remote 10.255.9.2" rb=" remote 10.255.9.1"
    # The transit port comes first: its link number is then 0, and the VXLAN
    # VNIs of the other links (link number x 4096 + tag) never equal a wire
    # VNI (the tag alone) in the switch's namespace.
    {
        echo "# PIP alpha of tests/federation_test.sh"
        netns_dp_nodes a1 a2 sa
        echo "port t1 sa w-ab address 10.255.9.1$ra"
        echo "port a1-sa a1 p-a1sa address 10.255.1.1"
        echo "port a1-sa sa p-saa1 address 10.255.1.2"
        echo "port a2-sa a2 p-a2sa address 10.255.2.1"
        echo "port a2-sa sa p-saa2 address 10.255.2.2"
    } >"$TMP/dp-alpha.conf"
    {
        echo "# PIP beta of tests/federation_test.sh"
        netns_dp_nodes b1 sb
        echo "port t1 sb w-ba address 10.255.9.2$rb"
        echo "port b1-sb b1 p-b1sb address 10.255.3.1"
        echo "port b1-sb sb p-sbb1 address 10.255.3.2"
    } >"$TMP/dp-beta.conf"
}
build_substrate || give_up "building the substrates failed"

# Everything made for our CloudNets on both substrates (see
# netns_count_ours): VNode namespaces, owned devices (VNode veths, VXLAN and
# wire devices), per-tag bridges, and in VLAN mode tags of the PIPs' range
# on any port.
count_ours() {
    netns_count_ours '30[0-9][0-9]'
}

# What a pipd's database holds for live CloudNets: reservations allocated or
# provisioned, allocations, VLAN tags.
db_live() { # db_live DATABASE
    echo "$(db_sql "$1" "select count(*) from reservation
                      where state in ('allocated','provisioned')")" \
        "$(db_sql "$1" "select count(*) from allocation")" \
        "$(db_sql "$1" "select count(*) from vlan")"
}

fault_of() { # fault_of COMMAND...: the fault code the command answered
    "$@" >"$TMP/out" 2>&1
    echo $(($? - 10))
}

# ---- MariaDB and the daemons ----

SOCK=$(db_start "$DB") || give_up "MariaDB did not start"

# start NAME PROGRAM URL CALL: starts PROGRAM -d -f $TMP/NAME.conf and waits
# until CALL (a shell function) gets an answer to describe.
start() {
    daemon_start "$TMP/$1.log" "$BUILD/bin/$2" -d -f "$TMP/$1.conf"
    PIDS="$PIDS $daemon_pid"
    eval "${1}_pid=$daemon_pid"
    daemon_wait "$daemon_pid" "$TMP/$1.log" "$3" describe
}

for pip in alpha beta; do
    port=$(free_port)
    case $pip in
    alpha) ALPHA_URL=http://127.0.0.1:$port/RPC2 ;;
    beta) BETA_URL=http://127.0.0.1:$port/RPC2 ;;
    esac
    mkdir -p "$TMP/$pip-images" "$TMP/$pip-templates"
    cat >"$TMP/$pip.conf" <<EOT
# written by federation_test
name $pip
listen 127.0.0.1:$port
database socket=$SOCK name=fed_$pip user=root
substrate $DATA/$pip.yaml
peer vnp $PIP_PEER_SECRET
libvirt test:///default
images $TMP/$pip-images
templates $TMP/$pip-templates
dataplane $TMP/dp-$pip.conf
max-lease 600
map-time-limit 10
EOT
    chmod 600 "$TMP/$pip.conf"
    start "$pip" pipd "$pip" || give_up "pipd $pip did not start"
done
pass "pipd alpha and beta serve"

# vnp1: both ends may use 3000-3099; vnp2: alpha 3000-3049, beta 3050-3099.
for v in vnp1:3000-3099 vnp2:3050-3099; do
    name=${v%%:*}
    port=$(free_port)
    case $name in
    vnp1) VNP1_URL=http://127.0.0.1:$port/RPC2 ;;
    vnp2) VNP2_URL=http://127.0.0.1:$port/RPC2 ;;
    esac
    arange=3000-3099
    [ "$name" = vnp2 ] && arange=3000-3049
    cat >"$TMP/$name.conf" <<EOT
# written by federation_test
name $name
listen 127.0.0.1:$port
database socket=$SOCK name=fed_$name user=root
peer client $CLIENT_SECRET
pip alpha $ALPHA_URL $PIP_PEER_SECRET
pip beta $BETA_URL $PIP_PEER_SECRET
transit t1 alpha:$arange beta:${v#*:} bandwidth=10000 latency=1
call-timeout 5
lease 20
map-time-limit 10
EOT
    chmod 600 "$TMP/$name.conf"
    start "$name" vnpd "$name" || give_up "vnpd $name did not start"
done
pass "vnpd vnp1 and vnp2 serve"

before=$(netns_snapshot)
equal "nothing of ours on the substrates before the test" "$(count_ours)" 0
equal "alpha's database holds no CloudNet" "$(db_live fed_alpha)" "0 0 0"
equal "beta's database holds no CloudNet" "$(db_live fed_beta)" "0 0 0"
equal "vnp1 offers both PIPs' CPUs" "$(vnp1 -k resources.cpu describe)" 12
alpha_cpu=$(alpha -k resources.cpu describe)
beta_cpu=$(beta -k resources.cpu describe)
equal "alpha offers 8 CPUs" "$alpha_cpu" 8
equal "beta offers 4 CPUs" "$beta_cpu" 4

C1=$P-c1
C2=$P-c2
C3=$P-c3
CLOUDNETS="vnp1:$C1 vnp1:$C2 vnp2:$C3"

# ---- refusals leave nothing ----

vnp1 negotiate "$P-big" "@$DATA/too-big.yaml" i:120 >"$TMP/out" 2>&1
rc=$?
if [ $rc -gt 10 ]; then
    pass "a request beyond beta is refused (fault $((rc - 10)))"
else
    fail "a request beyond beta is refused (exit $rc)"
    indent "$TMP/out"
fi
vnp1 negotiate "$P-wide" "@$DATA/wide.yaml" i:120 >"$TMP/out" 2>&1
rc=$?
if [ $rc -gt 10 ]; then
    pass "a link wider than alpha's end of t1 is refused (fault $((rc - 10)))"
else
    fail "a link wider than alpha's end of t1 is refused (exit $rc)"
    indent "$TMP/out"
fi
has "the fault names alpha" "$TMP/out" "pip 'alpha' refused"
equal "vnp1 records the refused request as failed" "$(vnp1 -k state status "$P-wide")" failed
equal "beta's piece of it was released" "$(beta -k state status "$P-wide")" released
equal "alpha holds nothing of it (fault 3)" "$(fault_of alpha status "$P-wide")" 3
equal "the refusals left nothing on the substrates" "$(count_ours)" 0
equal "the refusals left nothing in alpha's database" "$(db_live fed_alpha)" "0 0 0"
equal "the refusals left nothing in beta's database" "$(db_live fed_beta)" "0 0 0"

# ---- c1: negotiate and confirm through vnp1 ----

vnp1 negotiate "$C1" "@$DATA/c1.yaml" i:120 >"$TMP/c1-neg" 2>&1
rc=$?
equal "negotiate c1 through vnp1" "$rc" 0
[ $rc -eq 0 ] || indent "$TMP/c1-neg"
has "c1 is allocated" "$TMP/c1-neg" "^state=allocated$"
has "both PIPs answered" "$TMP/c1-neg" "^providers\[1\]\.state=allocated$"
vnp1 -k manifest_yaml status "$C1" >"$TMP/c1.yaml" 2>&1
has "n1 sits on a1 at alpha" "$TMP/c1.yaml" \
    "n1: \{.*pip: alpha.*host: a1|n1: \{.*host: a1.*pip: alpha"
has "n2 sits on b1 at beta" "$TMP/c1.yaml" "n2: \{.*pip: beta.*host: b1|n2: \{.*host: b1.*pip: beta"
has "n1-n2 crosses t1 from alpha to beta" "$TMP/c1.yaml" "n1-n2: \{.*pip: \"?alpha,beta"
c1_tag=$(sed -n 's/.*n1-n2:.*vlan: \([0-9]*\).*/\1/p' "$TMP/c1.yaml")
case "$c1_tag" in 30[0-9][0-9]) pass "c1's link has a tag of t1's range ($c1_tag)" ;;
*) fail "c1's link has a tag of t1's range (got '$c1_tag')" ;; esac
equal "alpha holds c1, allocated" "$(alpha -k state status "$C1")" allocated
equal "beta holds c1, allocated" "$(beta -k state status "$C1")" allocated
equal "beta's stub of alpha is remote" "$(beta -k elements.transit:t1 status "$C1")" remote

check "confirm c1 through vnp1" vnp1 confirm "$C1"
equal "c1 is provisioned" "$(vnp1 -k state status "$C1")" provisioned
equal "n1 runs (status through vnp1)" "$(vnp1 -k elements.n1 status "$C1")" running
equal "n2 runs (status through vnp1)" "$(vnp1 -k elements.n2 status "$C1")" running
equal "n1-n2 is configured" "$(vnp1 -k elements.n1-n2 status "$C1")" configured
equal "alpha's part is provisioned" "$(alpha -k state status "$C1")" provisioned
equal "beta's part is provisioned" "$(beta -k state status "$C1")" provisioned
equal "console of n2 comes from beta" "$(vnp1 console "$C1" n2)" "netns:cn-$C1-n2"

check "c1: n1 (alpha) reaches n2 (beta) across t1" pingable "cn-$C1-n1" 10.0.0.2
check "c1: n2 reaches n1" pingable "cn-$C1-n2" 10.0.0.1

# ---- c1 modified while it runs: a VNode more at alpha, linked across t1 ----

n1_inode=$(stat -L -c %i "/run/netns/cn-$C1-n1" 2>/dev/null)
check "n1 has a namespace before the modify" test -n "$n1_inode"
CLOUDNET_SECRET=$CLIENT_SECRET "$BUILD/bin/cloudnet" modify "$C1" "$DATA/c1-more.yaml" \
    --url "$VNP1_URL" --timeout 60 >"$TMP/c1-modify" 2>&1
rc=$?
equal "cloudnet modify c1 through vnp1" "$rc" 0
[ $rc -eq 0 ] || indent "$TMP/c1-modify"
has "modify shows c1 provisioned" "$TMP/c1-modify" "^$C1: provisioned$"
vnp1 -k manifest_yaml status "$C1" >"$TMP/c1m.yaml" 2>&1
has "n3 sits at alpha" "$TMP/c1m.yaml" "n3: \{.*pip: alpha"
has "n1 stays on a1" "$TMP/c1m.yaml" "n1: \{.*host: a1"
has "n3-n2 crosses t1 from alpha to beta" "$TMP/c1m.yaml" "n3-n2: \{.*pip: \"?alpha,beta"
equal "n1-n2 keeps its tag" "$(sed -n 's/.*n1-n2:.*vlan: \([0-9]*\).*/\1/p' "$TMP/c1m.yaml")" "$c1_tag"
c1n_tag=$(sed -n 's/.*n3-n2:.*vlan: \([0-9]*\).*/\1/p' "$TMP/c1m.yaml")
if [ -n "$c1n_tag" ] && [ "$c1n_tag" != "$c1_tag" ]; then
    pass "n3-n2 has a tag of its own on t1 ($c1n_tag)"
else
    fail "n3-n2 has a tag of its own on t1 (n1-n2 $c1_tag, n3-n2 '$c1n_tag')"
fi
equal "n3 runs (status through vnp1)" "$(vnp1 -k elements.n3 status "$C1")" running
equal "c1 is still provisioned" "$(vnp1 -k state status "$C1")" provisioned
equal "n1 was not touched: the same namespace" \
    "$(stat -L -c %i "/run/netns/cn-$C1-n1" 2>/dev/null)" "$n1_inode"
equal "n1 still runs" "$(vnp1 -k elements.n1 status "$C1")" running
check "c1: the new n3 (alpha) reaches n2 (beta) across t1" pingable "cn-$C1-n3" 10.0.8.2
check "c1: n1 still reaches n2" pingable "cn-$C1-n1" 10.0.0.2

# ---- c2: submitted with cloudnet through vnp1, isolated from c1 ----

CLOUDNET_SECRET=$CLIENT_SECRET "$BUILD/bin/cloudnet" submit "$VNP1_URL" "$DATA/c2.yaml" \
    --id "$C2" --lease 120 --timeout 60 >"$TMP/c2-submit" 2>&1
rc=$?
equal "cloudnet submit c2 through vnp1" "$rc" 0
[ $rc -eq 0 ] || indent "$TMP/c2-submit"
has "submit shows alpha and beta answering" "$TMP/c2-submit" "alpha"
equal "c2 is provisioned" "$(vnp1 -k state status "$C2")" provisioned
vnp1 -k manifest_yaml status "$C2" >"$TMP/c2.yaml" 2>&1
has "m1 sits on a2 (rack r2)" "$TMP/c2.yaml" "m1: \{.*host: a2"
c2_tag=$(sed -n 's/.*m1-m2:.*vlan: \([0-9]*\).*/\1/p' "$TMP/c2.yaml")
if [ -n "$c2_tag" ] && [ "$c2_tag" != "$c1_tag" ]; then
    pass "c2 has another tag on t1 ($c2_tag)"
else
    fail "c2 has another tag on t1 (c1 $c1_tag, c2 $c2_tag)"
fi
check "c2: m1 (a2) reaches m2 (beta) across t1" pingable "cn-$C2-m1" 10.0.0.4
check "c2: m2 reaches m1" pingable "cn-$C2-m2" 10.0.0.3
refuse "c1's n1 cannot reach c2's m2 (other PIP)" pingable "cn-$C1-n1" 10.0.0.4
refuse "c1's n2 cannot reach c2's m2 (same host)" pingable "cn-$C1-n2" 10.0.0.4
refuse "c2's m1 cannot reach c1's n2" pingable "cn-$C2-m1" 10.0.0.2
wire_dev sa "$C2" >"$TMP/out" 2>&1
if [ "$wire" = 8021q ]; then
    has "c2's wire device at alpha carries its tag" "$TMP/out" "vlan protocol 802.1Q id $c2_tag "
else
    has "c2's wire device at alpha carries its tag as VNI" "$TMP/out" "vxlan id $c2_tag "
fi

# ---- c3: disjoint ranges at vnp2, the tag translated at beta ----

vnp2 negotiate "$C3" "@$DATA/c3.yaml" i:120 >"$TMP/c3-neg" 2>&1
rc=$?
equal "negotiate c3 through vnp2" "$rc" 0
[ $rc -eq 0 ] || indent "$TMP/c3-neg"
check "confirm c3 through vnp2" vnp2 confirm "$C3"
vnp2 -k manifest_yaml status "$C3" >"$TMP/c3.yaml" 2>&1
vlans=$(sed -n 's/.*k1-k2:.*vlans: "\{0,1\}\([^",}]*,[^",}]*\)"\{0,1\}.*/\1/p' "$TMP/c3.yaml")
a_tag=$(echo "$vlans" | sed -n 's/.*alpha=\([0-9]*\).*/\1/p')
b_tag=$(echo "$vlans" | sed -n 's/.*beta=\([0-9]*\).*/\1/p')
case "$a_tag" in 30[0-4][0-9]) pass "c3's tag at alpha is in vnp2's range for alpha ($a_tag)" ;;
*)
    fail "c3's tag at alpha is in vnp2's range for alpha (vlans '$vlans')"
    indent "$TMP/c3.yaml"
    ;;
esac
case "$b_tag" in 30[5-9][0-9]) pass "c3's tag at beta is in vnp2's range for beta ($b_tag)" ;;
*) fail "c3's tag at beta is in vnp2's range for beta (vlans '$vlans')" ;; esac
has "the manifest's vlan is alpha's" "$TMP/c3.yaml" "k1-k2: \{.*vlan: ${a_tag}[,}]"
beta -k manifest_yaml status "$C3" >"$TMP/c3-beta.yaml" 2>&1
has "beta's manifest gives k1-k2 its own tag and alpha's on the wire" "$TMP/c3-beta.yaml" \
    "k1-k2: \{.*vlan: $b_tag.*wire_vlan: $a_tag|k1-k2: \{.*wire_vlan: $a_tag.*vlan: ${b_tag}[,}]"
wire_dev sb "$C3" >"$TMP/out" 2>&1
if [ "$wire" = 8021q ]; then
    has "c3's wire device at beta carries alpha's tag" "$TMP/out" "vlan protocol 802.1Q id $a_tag "
else
    has "c3's wire device at beta carries alpha's tag as VNI" "$TMP/out" "vxlan id $a_tag "
fi
if [ "$mode" = vxlan ]; then
    has "c3's wire device at beta is in the bridge of beta's tag" "$TMP/out" " master cnb$b_tag "
fi
check "c3: k1 (alpha) reaches k2 (beta) through the translation" pingable "cn-$C3-k1" 10.0.0.6
check "c3: k2 reaches k1" pingable "cn-$C3-k2" 10.0.0.5
refuse "c3's k1 cannot reach c1's n2" pingable "cn-$C3-k1" 10.0.0.2
refuse "c1's n1 cannot reach c3's k2" pingable "cn-$C1-n1" 10.0.0.6
equal "c3 is provisioned (status through vnp2)" "$(vnp2 -k state status "$C3")" provisioned
equal "k2 runs (status through vnp2)" "$(vnp2 -k elements.k2 status "$C3")" running
equal "vnp1 does not know vnp2's c3 (fault 3)" "$(fault_of vnp1 status "$C3")" 3

# ---- release through the VNPs ----

check "release c1 through vnp1" vnp1 release "$C1"
equal "vnp1 reports c1 released" "$(vnp1 -k state status "$C1")" released
vnp1 -k reason status "$C1" >"$TMP/out" 2>&1
has "the reason names the client" "$TMP/out" "released by client"
equal "alpha released c1" "$(alpha -k state status "$C1")" released
equal "beta released c1" "$(beta -k state status "$C1")" released
equal "c1's namespaces are gone" "$(ip netns list | grep -c "^cn-$C1-")" 0
check "c2 still works without c1" pingable "cn-$C2-m1" 10.0.0.4
check "c3 still works without c1" pingable "cn-$C3-k1" 10.0.0.6
check "release c1 again" vnp1 release "$C1"
check "release c2 through vnp1" vnp1 release "$C2"
check "release c3 through vnp2" vnp2 release "$C3"
equal "vnp1 reports c2 released" "$(vnp1 -k state status "$C2")" released
equal "vnp2 reports c3 released" "$(vnp2 -k state status "$C3")" released
# A PIP that refused holds nothing, but vnpd keeps its part release-pending
# (releasing, "not found") until the retry window of the negotiation (lease +
# call-timeout + 5 s) has passed: it cannot tell a refusal from a negotiation
# that may still arrive late. With lease 20 and call-timeout 5 that is
# within 30 s of the refusal.
i=0
while [ "$(db_sql fed_vnp1 "select count(*) from part where state <> 'released'")" != 0 ] &&
    [ $i -lt 40 ]; do
    sleep 1
    i=$((i + 1))
done
equal "vnp1 settles every part as released (waited ${i} s)" \
    "$(db_sql fed_vnp1 "select count(*) from part where state <> 'released'")" 0
equal "vnp2 holds no part not released" \
    "$(db_sql fed_vnp2 "select count(*) from part where state <> 'released'")" 0
vnp1 list >"$TMP/list" 2>&1
equal "vnp1 lists c1, c2 released and the refused request failed" \
    "$(grep -cE "state=(released|failed)$" "$TMP/list")" 3

n=$(count_ours)
equal "no namespace, veth, VXLAN or wire device, tag bridge or tag of ours remains" "$n" 0
[ "$n" -eq 0 ] || netns_show_ours | indent
equal "both substrates are as they were" "$(netns_snapshot)" "$before"
equal "alpha's database holds no live CloudNet, allocation or tag" "$(db_live fed_alpha)" "0 0 0"
equal "beta's database holds no live CloudNet, allocation or tag" "$(db_live fed_beta)" "0 0 0"
equal "alpha's free CPU is back" "$(alpha -k resources.cpu describe)" "$alpha_cpu"
equal "beta's free CPU is back" "$(beta -k resources.cpu describe)" "$beta_cpu"
for pip in alpha beta; do
    "$BUILD/bin/pipctl" --socket "$SOCK" --database "fed_$pip" list >"$TMP/list" 2>&1
    equal "pipctl lists c1, c2, c3 released at $pip" \
        "$(grep -cE "^$P-c[123][[:space:]]+released" "$TMP/list")" 3
done
CLOUDNETS=

for d in vnp2 vnp1 beta alpha; do
    eval "pid=\$${d}_pid"
    daemon_stop "$pid"
    equal "$d stops cleanly on SIGTERM" "$?" 0
    sanitizer_clean "$d" "$TMP/$d.log"
done
PIDS=

finish
