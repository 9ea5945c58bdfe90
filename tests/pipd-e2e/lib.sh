# Shared by the pipd end-to-end tests (tests/pipd_dataplane_test.sh,
# tests/pipd_crash_test.sh): sourced after the test has set PIPD_EXTRA
# (more pipd configuration lines, may be empty).
#
# Provides, on top of tests/lib/ (the pass/fail bookkeeping, namespace
# substrates, MariaDB and daemons), the substrate of network namespaces
# matching tests/pipd-e2e/substrate.yaml (h1 and h2, each with a bridge,
# joined by veth pairs through a switch namespace sw, as in
# tests/vlan_netns_test.sh) with its dataplane map, a private MariaDB, pipd
# on a free loopback port, and counters of everything a CloudNet leaves on
# the substrate and in the database. Every name carries the prefix P
# (unique to the run); the EXIT trap removes all of it (PIPD_E2E_DEBUG=1
# keeps it for inspection).

BUILD=${BUILD:-build}
SRC=${TEST_SRCDIR:-$(pwd)/tests}
DATA=$SRC/pipd-e2e
RPC=$BUILD/tests/pip_rpc
PIPD=$BUILD/bin/pipd
P=pe$$
. "$SRC/lib/check.sh"
. "$SRC/lib/netns.sh"
. "$SRC/lib/daemons.sh"
TMP=$(mktemp -d /tmp/pipd-e2e-XXXXXX)
DB=$TMP/db
DP=$TMP/dataplane.conf
PIP_SECRET=e2e-secret-$$
export PIP_SECRET
pipd_pid=
# CloudNet ids the EXIT trap releases while pipd still runs.
CLOUDNETS=

rpc() {
    "$RPC" "$URL" "$@"
}

# fault DESCRIPTION CODE METHOD ARG...: passes when the call fails with fault CODE.
fault() {
    d=$1
    code=$2
    shift 2
    rpc "$@" >"$TMP/out" 2>&1
    rc=$?
    if [ $rc -eq $((10 + code)) ]; then
        pass "$d"
    else
        fail "$d (exit $rc, want fault $code)"
        indent "$TMP/out"
    fi
}

sql() {
    db_sql pipd_e2e "$1"
}

# start_pipd: starts pipd in the background and waits until it answers.
start_pipd() {
    daemon_start "$TMP/pipd.log" "$PIPD" -d -f "$TMP/pipd.conf"
    pipd_pid=$daemon_pid
    daemon_wait "$pipd_pid" "$TMP/pipd.log" rpc describe
}

# stop_pipd [SIGNAL]: stops pipd (SIGTERM unless told), reaps it and
# returns its exit status.
stop_pipd() {
    [ -n "$pipd_pid" ] || return 0
    daemon_stop "$pipd_pid" "${1:-TERM}"
    st=$?
    pipd_pid=
    return $st
}

lib_cleanup() {
    if [ -n "$pipd_pid" ]; then
        for id in $CLOUDNETS; do
            rpc release "$id" >/dev/null 2>&1
        done
    fi
    stop_pipd KILL
    db_stop "$DB"
    netns_remove
    rm -rf "$TMP"
}
on_exit lib_cleanup "${PIPD_E2E_DEBUG:-}"

need_root
need_built "$RPC" "$PIPD"
command -v mysql >/dev/null || give_up "the mysql client is not installed"

# ---- the substrate ----

netns_probe || give_up "cannot make a network namespace"
echo "bridge mode: $mode"
netns_line "$DP" "written by $TEST_NAME" || give_up "building the substrate failed"

# ---- MariaDB and pipd ----

SOCK=$(db_start "$DB") || give_up "MariaDB did not start"
PORT=$(free_port)
URL=http://127.0.0.1:$PORT/RPC2
mkdir -p "$TMP/images" "$TMP/templates"
cat >"$TMP/pipd.conf" <<EOT
# written by $TEST_NAME
name pipd-e2e
listen 127.0.0.1:$PORT
database socket=$SOCK name=pipd_e2e user=root
substrate $DATA/substrate.yaml
peer e2e $PIP_SECRET
libvirt test:///default
images $TMP/images
templates $TMP/templates
dataplane $DP
map-time-limit 10
${PIPD_EXTRA:-}
EOT
chmod 600 "$TMP/pipd.conf"
start_pipd || give_up "pipd did not start"
pass "pipd serves on port $PORT"

# ---- counters ----

# Everything made for our CloudNets (see netns_count_ours): VNode
# namespaces, owned devices, per-tag bridges and, in VLAN mode, tags of our
# range on any port.
count_ours() {
    netns_count_ours '3[0-9][0-9]'
}

# What the database holds for live CloudNets: reservations not released or
# failed, allocations, VLAN tags.
db_live() {
    echo "$(sql "select count(*) from reservation where state in ('allocated','provisioned')")" \
        "$(sql "select count(*) from allocation")" "$(sql "select count(*) from vlan")"
}

free_cpu() {
    rpc -k resources.cpu describe
}
