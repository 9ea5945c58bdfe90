# Shared by the pipd end-to-end tests (tests/pipd_dataplane_test.sh,
# tests/pipd_crash_test.sh): sourced after the test has set NAME (its name
# in messages) and PIPD_EXTRA (more pipd configuration lines, may be empty).
#
# Provides the pass/fail bookkeeping, a substrate of network namespaces
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
TMP=$(mktemp -d /tmp/pipd-e2e-XXXXXX)
DB=$TMP/db
DP=$TMP/dataplane.conf
PIP_SECRET=e2e-secret-$$
export PIP_SECRET
pass=0
fail=0
pipd_pid=
# CloudNet ids the EXIT trap releases while pipd still runs.
CLOUDNETS=

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
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1 (got '$2', expected '$3')"; fi
}

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
        ok "$d"
    else
        bad "$d (exit $rc, want fault $code)"
        sed 's/^/  /' "$TMP/out"
    fi
}

sql() {
    mysql --no-defaults -S "$SOCK" -u root -N -B pipd_e2e -e "$1"
}

give_up() {
    echo "$NAME: $1"
    echo "$pass passed, $((fail + 1)) failed"
    exit 1
}

# start_pipd: starts pipd in the background and waits until it answers.
start_pipd() {
    LSAN_OPTIONS=suppressions=$DATA/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS} \
        "$PIPD" -d -f "$TMP/pipd.conf" >>"$TMP/pipd.log" 2>&1 &
    pipd_pid=$!
    i=0
    until rpc describe >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 150 ] || ! kill -0 "$pipd_pid" 2>/dev/null; then
            sed 's/^/  /' "$TMP/pipd.log"
            return 1
        fi
        sleep 0.1
    done
}

# stop_pipd [SIGNAL]: stops pipd (SIGTERM unless told), reaps it and
# returns its exit status.
stop_pipd() {
    st=0
    if [ -n "$pipd_pid" ]; then
        kill -"${1:-TERM}" "$pipd_pid" 2>/dev/null
        wait "$pipd_pid" 2>/dev/null
        st=$?
        pipd_pid=
    fi
    return $st
}

lib_cleanup() {
    if [ -n "$pipd_pid" ]; then
        for id in $CLOUDNETS; do
            rpc release "$id" >/dev/null 2>&1
        done
    fi
    stop_pipd KILL
    sh "$SRC/../scripts/mariadb-scratch.sh" stop "$DB" >/dev/null 2>&1
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        case $ns in
        "$P"-* | cn-"$P"-*) ip netns del "$ns" 2>/dev/null ;;
        esac
    done
    rm -rf "$TMP"
}
trap lib_cleanup EXIT
[ -n "${PIPD_E2E_DEBUG:-}" ] && trap - EXIT
trap 'exit 1' INT TERM

[ "$(id -u)" -eq 0 ] || give_up "needs root (network namespaces)"
for f in "$RPC" "$PIPD"; do
    [ -x "$f" ] || give_up "$f is not built"
done
command -v mysql >/dev/null || give_up "the mysql client is not installed"

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
    while read -r n dev addr; do
        if [ $mode = vlan ]; then
            ip -n "$P-$n" link set "$dev" master br0 || return 1
        else
            ip -n "$P-$n" addr add "$addr/30" dev "$dev" || return 1
        fi
        ip -n "$P-$n" link set "$dev" up || return 1
    done <<EOT
h1 p-h1sw 10.255.1.1
sw p-swh1 10.255.1.2
sw p-swh2 10.255.2.1
h2 p-h2sw 10.255.2.2
EOT
    {
        echo "# written by $NAME"
        for n in h1 sw h2; do
            echo "node $n netns $P-$n bridge br0 mode $mode"
        done
        echo "port h1-sw h1 p-h1sw address 10.255.1.1"
        echo "port h1-sw sw p-swh1 address 10.255.1.2"
        echo "port sw-h2 sw p-swh2 address 10.255.2.1"
        echo "port sw-h2 h2 p-h2sw address 10.255.2.2"
    } >"$DP"
}
build_substrate || give_up "building the substrate failed"

# ---- MariaDB and pipd ----

# A private TMPDIR: MariaDB names its temporary tables in it after its pid,
# and servers of other tests share /tmp.
mkdir -p "$TMP/dbtmp"
SOCK=$(TMPDIR=$TMP/dbtmp sh "$SRC/../scripts/mariadb-scratch.sh" start "$DB") ||
    give_up "MariaDB did not start"

free_port() {
    while :; do
        p=$(shuf -i 20000-60000 -n 1)
        ss -Htln "sport = :$p" | grep -q . || {
            echo "$p"
            return
        }
    done
}
PORT=$(free_port)
URL=http://127.0.0.1:$PORT/RPC2
mkdir -p "$TMP/images" "$TMP/templates"
cat >"$TMP/pipd.conf" <<EOT
# written by $NAME
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
ok "pipd serves on port $PORT"

# ---- counters ----

# Devices per substrate namespace, to compare at the end.
snapshot() {
    for n in h1 sw h2; do
        printf '%s:' "$n"
        ip -n "$P-$n" -o link show | awk -F': ' '{print $2}' | sort | tr '\n' ' '
        echo
    done
}

# Everything made for our CloudNets: VNode namespaces; devices with our
# "cloudnet=ID" aliases in the initial namespace; in the substrate's own
# namespaces every device named like a VNode veth or VXLAN device
# (cn + 11 hex digits + h/x, whatever its alias: a crash between creating
# a device and tagging it must not hide it) and every per-tag bridge; in
# VLAN mode, tags of our range on any port.
count_ours() {
    c=$(ip netns list | awk '{print $1}' | grep -c "^cn-$P-")
    c=$((c + $(ip -o link show | grep -c "alias cloudnet=$P-")))
    for n in h1 sw h2; do
        c=$((c + $(ip -n "$P-$n" -o link show | grep -cE ': cn[0-9a-f]{11}[hx][:@]')))
        c=$((c + $(ip -n "$P-$n" -o link show | grep -cE ': cnb[0-9]+[:@]')))
        if [ $mode = vlan ]; then
            c=$((c + $(bridge -n "$P-$n" vlan show | grep -cwE '3[0-9][0-9]')))
        fi
    done
    echo "$c"
}

# Lists what count_ours counts, for a failure message.
show_ours() {
    ip netns list | awk '{print $1}' | grep "^cn-$P-"
    ip -o link show | grep "alias cloudnet=$P-"
    for n in h1 sw h2; do
        ip -n "$P-$n" -o link show | grep -E ': cnb?[0-9a-f]+[hx]?[:@]' | sed "s/^/$n: /"
    done
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
