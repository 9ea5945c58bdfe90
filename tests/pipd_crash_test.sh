#!/bin/sh
# pipd's crash safety on a real data plane (needs root).
#
# On the namespace substrate of tests/pipd-e2e (see lib.sh there), pipd is
# killed with SIGKILL in the middle of its work, again and again, and
# restarted each time: right after a negotiate was sent, a little later,
# as soon as the first VXLAN device (VLAN mode: the first tag on a trunk)
# or the first and second VNode namespace of the CloudNet being embedded
# appears, during a release and during a confirm. Negotiations carry a
# short lease, so what the crashes left allocated is re-embedded by
# recovery and then released by the reaper; a half-released CloudNet is
# released again by its caller, as a VNP would retry. Then the test COUNTS
# what is left: VNode namespaces, veths, VXLAN devices, per-tag bridges,
# tags on ports, live reservations, allocation rows and VLAN tag rows must
# be as before the first crash, and a fresh CloudNet must still work (ping).
#
# Only netns VNodes are used: libvirt's test:///default driver keeps its
# domains inside the process that opened it, so they vanish with a killed
# pipd and could not be counted from outside.
set -u

LEASE=4
PIPD_EXTRA="max-lease 600
reap-interval 1"
. "${TEST_SRCDIR:-$(pwd)/tests}/pipd-e2e/lib.sh"

before=$(netns_snapshot)
equal "nothing of ours before the crashes" "$(count_ours)" 0
equal "the database holds no CloudNet before the crashes" "$(db_live)" "0 0 0"
cpu_before=$(free_cpu)

# Predicates polled while a call runs; pipd is killed the moment one holds.
first_hop() { # something of the hops of CloudNet $1 exists on the switch
    if [ "$mode" = vlan ]; then
        bridge -n "$P-sw" vlan show | grep -qwE '3[0-9][0-9]'
    else
        ip -n "$P-sw" -o link show | grep -q "alias cloudnet=$1 "
    fi
}
namespaces() { # at least $2 VNode namespaces of CloudNet $1 exist
    [ "$(ip netns list 2>/dev/null | grep -c "^cn-$1-")" -ge "$2" ]
}
ns_gone() { # fewer than 2 VNode namespaces of CloudNet $1 remain
    [ "$(ip netns list 2>/dev/null | grep -c "^cn-$1-")" -lt 2 ]
}

# room_for N: waits until the reaper has released enough of what earlier
# crashes left allocated for N more CloudNets (each takes one CPU of the
# four on h1 and on h2), as their short leases end.
room_for() {
    rf_i=0
    while [ "$(sql "select count(*) from reservation where state in ('allocated','provisioned')")" \
        -gt $((4 - $1)) ] && [ $rf_i -lt 60 ]; do
        sleep 0.25
        rf_i=$((rf_i + 1))
    done
}

# crash_during ID WHEN METHOD ARG...: calls METHOD in the background and
# kills pipd with SIGKILL when WHEN holds: a delay in seconds ("0.05") or
# a predicate command line ("namespaces ID 1"). Then starts pipd again.
# Sets call_rc to the call's exit status (1: the kill cut it off).
crash_during() {
    cd_id=$1
    cd_when=$2
    shift 2
    rpc "$@" >"$TMP/call.out" 2>&1 &
    cd_call=$!
    kill_when "$cd_when"
    wait "$cd_call"
    call_rc=$?
    echo "  $cd_id: killed at '$cd_when', the call exited $call_rc" \
        "($(ip netns list 2>/dev/null | grep -c "^cn-$cd_id-") namespaces were up)"
    start_pipd || give_up "pipd did not start again after the crash at $cd_id"
}

# kill_when WHEN: kills pipd with SIGKILL after a delay or once a predicate holds.
kill_when() {
    case $1 in
    [0-9]*) sleep "$1" ;;
    *)
        kw_i=0
        # shellcheck disable=SC2086 # the predicate is a command line
        while ! $1 && [ $kw_i -lt 3000 ]; do
            kw_i=$((kw_i + 1))
        done
        ;;
    esac
    stop_pipd KILL
}

n=0
interrupted=0
for when in 0 0.05 0.15 "first_hop ID" "namespaces ID 1" "namespaces ID 2" "first_hop ID" \
    "namespaces ID 1"; do
    n=$((n + 1))
    id=$P-k$n
    CLOUDNETS="$CLOUDNETS $id"
    room_for 1
    crash_during "$id" "$(echo "$when" | sed "s/ID/$id/")" negotiate "$id" "@$DATA/red.yaml" \
        "i:$LEASE"
    case $when in
    *ID*)
        if [ "$call_rc" -eq 1 ]; then pass "the crash cut off negotiate $n mid-embedding"; else
            fail "the crash cut off negotiate $n mid-embedding (exit $call_rc)"
            indent "$TMP/call.out"
        fi
        ;;
    esac
    [ "$call_rc" -eq 1 ] && interrupted=$((interrupted + 1))
done
echo "  $interrupted of $n negotiations were cut off by the crash"

# Two negotiations in flight at once (pipd serialises them): the crash
# cuts off the one being embedded, and the other if it was still waiting.
A=$P-twoa
B=$P-twob
CLOUDNETS="$CLOUDNETS $A $B"
room_for 2
rpc negotiate "$A" "@$DATA/red.yaml" "i:$LEASE" >"$TMP/a.out" 2>&1 &
ca=$!
rpc negotiate "$B" "@$DATA/blue.yaml" "i:$LEASE" >"$TMP/b.out" 2>&1 &
cb=$!
kill_when "namespaces $A 1"
wait "$ca"
rca=$?
wait "$cb"
rcb=$?
# B may have been served before A; it must be either done or cut off.
case "$rca $rcb" in
"1 0" | "1 1") pass "two calls in flight: the one being embedded is cut off (exits $rca $rcb)" ;;
*) fail "two calls in flight: the one being embedded is cut off (exits $rca $rcb)" ;;
esac
start_pipd || give_up "pipd did not start again after the crash with two calls"

# Recovery itself is cut off: an allocated CloudNet with a long lease is
# re-embedded at start (released in the embedding, then embedded again),
# and pipd is killed while it does that; the next start finishes the job.
REC=$P-rec
CLOUDNETS="$CLOUDNETS $REC"
room_for 1
check "negotiate $REC (long lease)" rpc negotiate "$REC" "@$DATA/red.yaml" i:600
stop_pipd KILL
daemon_start "$TMP/pipd.log" "$PIPD" -d -f "$TMP/pipd.conf"
pipd_pid=$daemon_pid
kill_when "ns_gone $REC"
start_pipd || give_up "pipd did not start after the crash during recovery"
equal "$REC is allocated after the crash during recovery" "$(rpc -k state status "$REC")" allocated
equal "$REC's VNodes are defined again" \
    "$(rpc -k elements.red1 status "$REC") $(rpc -k elements.red2 status "$REC")" "defined defined"
check "release $REC" rpc release "$REC"

# The narrowest windows, made on purpose: a kill between creating a VNode
# namespace and tagging its loopback (ip netns add, then ip link set lo
# alias) leaves a namespace with the CloudNet's name and no owner tag; a
# kill between creating a VXLAN device and setting its alias leaves an
# untagged device with the hop's name. The polling above hits them only
# now and then, so here a completed negotiation is killed and its
# namespace, and one of its VXLAN devices, are put back in that state.
HN=$P-halfns
CLOUDNETS="$CLOUDNETS $HN"
room_for 1
check "negotiate $HN" rpc negotiate "$HN" "@$DATA/red.yaml" "i:$LEASE"
stop_pipd KILL
ip netns del "cn-$HN-red2" && ip netns add "cn-$HN-red2"
pass "made an untagged namespace cn-$HN-red2, as a crash after ip netns add leaves it"
if [ "$mode" = vxlan ]; then
    HX=$P-halfvx
    CLOUDNETS="$CLOUDNETS $HX"
    start_pipd || give_up "pipd did not start again"
    room_for 1
    check "negotiate $HX" rpc negotiate "$HX" "@$DATA/red.yaml" "i:$LEASE"
    stop_pipd KILL
    dev=$(ip -n "$P-sw" -o link show | grep "alias cloudnet=$HX " | head -n 1 |
        awk -F': ' '{print $2}' | cut -d@ -f1)
    if [ -n "$dev" ] && ip -n "$P-sw" link set "$dev" alias ""; then
        pass "made an untagged VXLAN device $dev, as a crash after ip link add leaves it"
    else
        fail "made an untagged VXLAN device (none of $HX found on the switch)"
    fi
fi
start_pipd || give_up "pipd did not start again after the half-made crashes"

# A provisioned CloudNet whose release is cut off: its caller retries.
REL=$P-rel
CLOUDNETS="$CLOUDNETS $REL"
room_for 1
check "negotiate $REL" rpc negotiate "$REL" "@$DATA/red.yaml" i:60
check "confirm $REL" rpc confirm "$REL"
crash_during "$REL" "ns_gone $REL" release "$REL"
check "releasing $REL again after the crash succeeds" rpc release "$REL"
equal "$REL is released" "$(rpc -k state status "$REL")" released

# A confirm cut off: the CloudNet is either still allocated (the reaper
# takes it) or provisioned (its caller releases it).
CON=$P-con
CLOUDNETS="$CLOUDNETS $CON"
room_for 1
check "negotiate $CON" rpc negotiate "$CON" "@$DATA/red.yaml" "i:$LEASE"
crash_during "$CON" 0 confirm "$CON"
state=$(rpc -k state status "$CON")
case $state in
allocated) pass "after the crash $CON is allocated (the reaper will release it)" ;;
provisioned)
    pass "after the crash $CON is provisioned"
    check "release the provisioned $CON" rpc release "$CON"
    ;;
*) fail "after the crash $CON is allocated or provisioned (got '$state')" ;;
esac

# The leases end; the reaper releases whatever the crashes left allocated.
sleep "$LEASE"
i=0
while [ $i -lt 30 ] && { [ "$(db_live)" != "0 0 0" ] || [ "$(count_ours)" -ne 0 ]; }; do
    sleep 0.5
    i=$((i + 1))
done
left=$(count_ours)
equal "no namespace, veth, VXLAN device, tag bridge or tag is left" "$left" 0
[ "$left" -eq 0 ] || netns_show_ours | indent
equal "the substrate's devices are as before" "$(netns_snapshot)" "$before"
equal "no live reservation, allocation or VLAN tag is left in the database" "$(db_live)" "0 0 0"
equal "every CloudNet is released, failed or unknown" \
    "$(sql "select count(*) from reservation where state not in ('released','failed')")" 0
equal "the free CPU is as before" "$(free_cpu)" "$cpu_before"
grep -q "recovery: " "$TMP/pipd.log" && pass "recovery reported what it did" ||
    fail "recovery reported what it did"

# One more restart: recovery must not bring anything back (compared with
# what was left, so one leftover fails the checks above, not every later one).
settled="$(count_ours) $(db_live)"
stop_pipd KILL
start_pipd || give_up "pipd did not start for the last time"
equal "a restart brings nothing back" "$(count_ours) $(db_live)" "$settled"

# The substrate still works for a new CloudNet.
NEW=$P-new
CLOUDNETS="$CLOUDNETS $NEW"
check "negotiate a new CloudNet" rpc negotiate "$NEW" "@$DATA/red.yaml" i:60
check "confirm it" rpc confirm "$NEW"
check "start it" rpc start "$NEW"
check "its VNodes reach each other" pingable "cn-$NEW-red1" 10.0.0.2
check "release it" rpc release "$NEW"
equal "nothing of it is left" "$(count_ours) $(db_live)" "$settled"

stop_pipd TERM
equal "pipd stops cleanly on SIGTERM" "$?" 0
sanitizer_clean pipd "$TMP/pipd.log"

finish
