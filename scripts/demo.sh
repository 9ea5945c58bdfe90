#!/bin/sh
# The demo federation on loopback (`make demo`, `make demo-stop`).
#
#   scripts/demo.sh start   builds three PIP substrates out of network
#                           namespaces (examples/federation/), starts a
#                           private MariaDB, three pipd and one vnpd, submits
#                           examples/federation/shop.yaml to the VNP, prints
#                           the manifest, pings across the providers and
#                           draws where everything landed (SVG)
#   scripts/demo.sh stop    releases the CloudNet, stops the daemons and the
#                           database, removes every namespace it made
#
# Needs root (namespaces). Everything lives in .scratch/demo/ and in
# namespaces named dm-*; DEMO_PORT (default 7300) is the VNP's port, the
# PIPs listen on the next three.
set -eu

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/bin
DIR=$(pwd)/.scratch/demo
PORT=${DEMO_PORT:-7300}
PIPS="berlin paris london"
ID=euro-shop
VNP_URL=http://127.0.0.1:$PORT/RPC2

say() { printf '\n== %s\n' "$*"; }
die() {
    echo "demo: $*" >&2
    exit 1
}

# ---- the substrates, out of namespaces ----

hosts_of() {
    case $1 in
    london) echo h1 ;;
    *) echo h1 h2 ;;
    esac
}

# Transit links: id, the two PIPs, their tag ranges (as in the substrates).
TRANSITS="berlin-paris:berlin:paris:3000-3099 berlin-london:berlin:london:3200-3299 paris-london:paris:london:3100-3199"

bridge_mode() {
    ip netns add dm-probe
    if ip -n dm-probe link add br0 type bridge vlan_filtering 1 2>/dev/null; then
        echo vlan
    else
        echo vxlan
    fi
    ip netns del dm-probe
}

wire_mode() { # 802.1Q on the transit wires when the kernel has VLAN devices
    ip netns add dm-probe
    ip -n dm-probe link add d0 type veth peer name d1
    if ip -n dm-probe link add link d0 name d0.5 type vlan id 5 2>/dev/null; then
        echo vlan
    else
        echo vxlan
    fi
    ip netns del dm-probe
}

new_node() { # new_node NETNS MODE
    ip netns add "$1"
    ip -n "$1" link set lo up
    if [ "$2" = vlan ]; then
        ip -n "$1" link add br0 type bridge vlan_filtering 1
    else
        ip -n "$1" link add br0 type bridge
    fi
    ip -n "$1" link set br0 up
}

port_up() { # port_up NETNS DEV MODE ADDRESS
    if [ "$3" = vlan ]; then
        ip -n "$1" link set "$2" master br0
    else
        ip -n "$1" addr add "$4/30" dev "$2"
    fi
    ip -n "$1" link set "$2" up
}

build_pip() { # build_pip PIP INDEX MODE: namespaces and the dataplane map
    pip=$1
    i=$2
    mode=$3
    dp=$DIR/$pip-dataplane.conf
    echo "# written by scripts/demo.sh" >"$dp"
    new_node "dm-$pip-sw" "$mode"
    echo "node sw netns dm-$pip-sw bridge br0 mode $mode" >>"$dp"
    n=0
    for h in $(hosts_of "$pip"); do
        n=$((n + 1))
        new_node "dm-$pip-$h" "$mode"
        ip -n "dm-$pip-$h" link add eth-sw type veth peer name "eth-$h" netns "dm-$pip-sw"
        a=10.254.$i.$((n * 4 + 1))
        b=10.254.$i.$((n * 4 + 2))
        port_up "dm-$pip-$h" eth-sw "$mode" "$a"
        port_up "dm-$pip-sw" "eth-$h" "$mode" "$b"
        {
            echo "node $h netns dm-$pip-$h bridge br0 mode $mode"
            echo "port $h-sw $h eth-sw address $a"
            echo "port $h-sw sw eth-$h address $b"
        } >>"$dp"
    done
}

build_wires() { # the transit links: one veth pair between two PIPs' switches
    w=0
    for t in $TRANSITS; do
        id=${t%%:*}
        rest=${t#*:}
        a=${rest%%:*}
        rest=${rest#*:}
        b=${rest%%:*}
        w=$((w + 1))
        ip -n "dm-$a-sw" link add "t-$b" type veth peer name "t-$a" netns "dm-$b-sw"
        ip -n "dm-$a-sw" addr add "10.253.$w.1/30" dev "t-$b"
        ip -n "dm-$b-sw" addr add "10.253.$w.2/30" dev "t-$a"
        ip -n "dm-$a-sw" link set "t-$b" up
        ip -n "dm-$b-sw" link set "t-$a" up
        # Without 802.1Q devices in the kernel the wire carries VXLAN, VNI = wire tag.
        if [ "$WIRE" = vxlan ]; then
            echo "port $id sw t-$b address 10.253.$w.1 remote 10.253.$w.2" >>"$DIR/$a-dataplane.conf"
            echo "port $id sw t-$a address 10.253.$w.2 remote 10.253.$w.1" >>"$DIR/$b-dataplane.conf"
        else
            echo "port $id sw t-$b" >>"$DIR/$a-dataplane.conf"
            echo "port $id sw t-$a" >>"$DIR/$b-dataplane.conf"
        fi
    done
}

# ---- configuration ----

secret() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }

write_configs() {
    sock=$1
    : >"$DIR/secrets"
    chmod 600 "$DIR/secrets"
    n=0
    vnp_pips=""
    for pip in $PIPS; do
        n=$((n + 1))
        s=$(secret)
        echo "$pip $s" >>"$DIR/secrets"
        cat >"$DIR/$pip.conf" <<EOF
# pipd of the demo's $pip PIP (scripts/demo.sh)
name $pip
listen 127.0.0.1:$((PORT + n))
database socket=$sock name=demo_$pip user=root
substrate $(pwd)/examples/federation/$pip.yaml
peer vnp-demo $s
dataplane $DIR/$pip-dataplane.conf
libvirt test:///default
max-lease 600
EOF
        chmod 600 "$DIR/$pip.conf"
        vnp_pips="${vnp_pips}pip $pip http://127.0.0.1:$((PORT + n))/RPC2 $s
"
    done
    CLIENT_SECRET=$(secret)
    echo "client $CLIENT_SECRET" >>"$DIR/secrets"
    {
        echo "# vnpd of the demo (scripts/demo.sh)"
        echo "name vnp-demo"
        echo "listen 127.0.0.1:$PORT"
        echo "database socket=$sock name=demo_vnp user=root"
        echo "peer demo-user $CLIENT_SECRET"
        printf '%s' "$vnp_pips"
        for t in $TRANSITS; do
            id=${t%%:*}
            rest=${t#*:}
            a=${rest%%:*}
            rest=${rest#*:}
            b=${rest%%:*}
            range=${rest#*:}
            case $id in
            berlin-paris) bw=1000 lat=11 ;;
            berlin-london) bw=1000 lat=14 ;;
            *) bw=1000 lat=6 ;;
            esac
            echo "transit $id $a:$range $b:$range bandwidth=$bw latency=$lat"
        done
    } >"$DIR/vnpd.conf"
    chmod 600 "$DIR/vnpd.conf"
    # The client's configuration: the VNP's URL and the secret for it.
    {
        echo "url $VNP_URL"
        echo "secret $VNP_URL $CLIENT_SECRET"
    } >"$DIR/client.conf"
    chmod 600 "$DIR/client.conf"
}

start_daemon() { # start_daemon NAME PROGRAM CONFIG
    "$BIN/$2" -d -f "$3" >"$DIR/$1.log" 2>&1 &
    echo "$1 $!" >>"$DIR/pids"
}

wait_for() { # wait_for URL SECRET: until the daemon answers
    for _ in $(seq 1 50); do
        if CLOUDNET_SECRET=$2 "$BIN/cloudnet" list --url "$1" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

draw() { # draw MAPPING UNDERLAY|"" OUT: OUT.svg, or OUT.dot without Graphviz
    set -- "$1" "${2:+--underlay}" "$2" "$3"
    if command -v dot >/dev/null 2>&1; then
        "$BIN/cloudnet" dot "$1" ${2:+"$2" "$3"} --svg "$4.svg"
        echo "$4.svg"
    else
        "$BIN/cloudnet" dot "$1" ${2:+"$2" "$3"} >"$4.dot"
        echo "$4.dot (Graphviz is not installed)"
    fi
}

start() {
    [ "$(id -u)" -eq 0 ] || die "needs root (it builds network namespaces)"
    for p in pipd vnpd cloudnet; do
        [ -x "$BIN/$p" ] || die "$BIN/$p is missing; run 'make' first"
    done
    stop >/dev/null 2>&1 || true
    # A fresh federation every time: the databases of an earlier run go too.
    rm -rf "$DIR"
    mkdir -p "$DIR"

    say "validating the federation's documents"
    "$BIN/cloudnet" validate examples/federation/*.yaml

    mode=$(bridge_mode)
    WIRE=$(wire_mode)
    say "building three PIP substrates out of network namespaces (bridge mode $mode)"
    i=0
    for pip in $PIPS; do
        i=$((i + 1))
        build_pip "$pip" "$i" "$mode"
        echo "$pip: switch dm-$pip-sw, hosts $(hosts_of "$pip" | sed "s/h/dm-$pip-h/g")"
    done
    build_wires
    echo "transit links: berlin-paris, berlin-london, paris-london (veth pairs between the switches, $WIRE on the wire)"

    say "starting a private MariaDB"
    sock=$(sh scripts/mariadb-scratch.sh start "$DIR/db")
    echo "$sock"

    write_configs "$sock"
    say "starting three pipd and one vnpd"
    n=0
    for pip in $PIPS; do
        n=$((n + 1))
        start_daemon "pipd-$pip" pipd "$DIR/$pip.conf"
    done
    start_daemon vnpd vnpd "$DIR/vnpd.conf"
    export CLOUDNET_CONFIG="$DIR/client.conf"
    n=0
    for pip in $PIPS; do
        n=$((n + 1))
        wait_for "http://127.0.0.1:$((PORT + n))/RPC2" "$(awk -v p="$pip" '$1 == p {print $2}' "$DIR/secrets")" ||
            die "pipd of $pip did not come up; see $DIR/pipd-$pip.log"
    done
    wait_for "$VNP_URL" "$CLIENT_SECRET" || die "vnpd did not come up; see $DIR/vnpd.log"
    echo "vnpd at $VNP_URL; PIPs on ports $((PORT + 1))-$((PORT + 3)); logs in $DIR/*.log"

    say "submitting examples/federation/shop.yaml to the VNP"
    "$BIN/cloudnet" submit "$VNP_URL" examples/federation/shop.yaml --id "$ID"

    say "the manifest"
    "$BIN/cloudnet" manifest --url "$VNP_URL" "$ID" | tee "$DIR/$ID-manifest.yaml"

    say "pinging across the providers"
    for pair in front-de:10.10.1.2 front-fr:10.10.2.2 reports:10.10.3.2; do
        node=${pair%%:*}
        addr=${pair#*:}
        ns=$("$BIN/cloudnet" console --url "$VNP_URL" "$ID" "$node" | sed 's/^netns://')
        if ip netns exec "$ns" ping -c 2 -W 2 "$addr" >/dev/null 2>&1; then
            echo "$node ($ns) reaches db at $addr"
        else
            echo "$node ($ns) does NOT reach db at $addr"
        fi
    done

    say "drawing where everything landed"
    # The whole CloudNet over the PIPs, then each PIP's part on its own
    # substrate (the PIP's manifest, fetched with the VNP's secret there).
    draw "$DIR/$ID-manifest.yaml" "" "$DIR/$ID"
    n=0
    for pip in $PIPS; do
        n=$((n + 1))
        CLOUDNET_SECRET=$(awk -v p="$pip" '$1 == p {print $2}' "$DIR/secrets") \
            "$BIN/cloudnet" manifest --url "http://127.0.0.1:$((PORT + n))/RPC2" "$ID" \
            >"$DIR/$ID-at-$pip.yaml"
        draw "$DIR/$ID-at-$pip.yaml" "examples/federation/$pip.yaml" "$DIR/$ID-at-$pip"
    done

    say "done"
    echo "The federation keeps running. Try:"
    echo "  export CLOUDNET_CONFIG=$DIR/client.conf"
    echo "  $BIN/cloudnet status --url $VNP_URL $ID"
    echo "Tear it all down with: make demo-stop"
}

stop() {
    if [ -f "$DIR/client.conf" ] && [ -x "$BIN/cloudnet" ]; then
        CLOUDNET_CONFIG="$DIR/client.conf" "$BIN/cloudnet" release --url "$VNP_URL" "$ID" \
            >/dev/null 2>&1 && echo "released $ID"
    fi
    if [ -f "$DIR/pids" ]; then
        while read -r name pid; do
            kill "$pid" 2>/dev/null && echo "stopped $name"
        done <"$DIR/pids"
        sleep 1
        rm -f "$DIR/pids"
    fi
    sh scripts/mariadb-scratch.sh stop "$DIR/db" >/dev/null 2>&1 && echo "stopped MariaDB"
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        case $ns in
        dm-* | cn-$ID-*) ip netns del "$ns" ;;
        esac
    done
    echo "demo stopped"
}

case ${1:-start} in
start) start ;;
stop) stop ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
