# Substrates made of network namespaces for the data-plane tests (needs
# root), sourced after tests/lib/check.sh. Every namespace is named
# "$P-NAME": P is the test's prefix, unique to the run, which the test sets
# before calling anything here; VNode namespaces are "cn-$P-...".
#
# Each substrate node is a namespace with a bridge br0. The bridge mode
# follows the kernel (docs/embedding.md): VLAN filtering where the kernel
# has it, one bridge per tag joined by VXLAN otherwise. netns_probe finds
# the mode, and how a transit wire carries tags, before anything is built.

# netns_probe: sets mode (vlan or vxlan) and wire (8021q where the kernel
# has VLAN devices, vxlan otherwise) from what a throwaway namespace can do.
# shellcheck disable=SC2034 # mode and wire are for the tests
netns_probe() {
    mode=vlan
    wire=8021q
    ip netns add "$P-probe" || return 1
    ip -n "$P-probe" link add br0 type bridge vlan_filtering 1 2>/dev/null || mode=vxlan
    ip -n "$P-probe" link add pr0 type veth peer name pr1 &&
        ip -n "$P-probe" link add link pr0 name pr0.5 type vlan id 5 2>/dev/null || wire=vxlan
    ip netns del "$P-probe"
}

# netns_nodes NAME...: a namespace per NAME, loopback up, with a bridge br0
# in the mode found by netns_probe. NETNS_NODES lists every node made.
NETNS_NODES=
netns_nodes() {
    for nn_n in "$@"; do
        NETNS_NODES="$NETNS_NODES $nn_n"
        ip netns add "$P-$nn_n" || return 1
        ip -n "$P-$nn_n" link set lo up || return 1
        if [ "$mode" = vlan ]; then
            ip -n "$P-$nn_n" link add br0 type bridge vlan_filtering 1 || return 1
        else
            ip -n "$P-$nn_n" link add br0 type bridge || return 1
        fi
        ip -n "$P-$nn_n" link set br0 up || return 1
    done
}

# netns_link NS1 DEV1 ADDR1 NS2 DEV2 ADDR2: a veth pair joining two nodes;
# its ends are bridge ports in VLAN mode and carry ADDR/30 otherwise (the
# VXLAN underlay).
netns_link() {
    ip -n "$P-$1" link add "$2" type veth peer name "$5" netns "$P-$4" || return 1
    netns_link_end "$1" "$2" "$3" && netns_link_end "$4" "$5" "$6"
}

netns_link_end() { # netns_link_end NS DEV ADDR
    if [ "$mode" = vlan ]; then
        ip -n "$P-$1" link set "$2" master br0 || return 1
    else
        ip -n "$P-$1" addr add "$3/30" dev "$2" || return 1
    fi
    ip -n "$P-$1" link set "$2" up
}

# netns_wire NS1 DEV1 ADDR1 NS2 DEV2 ADDR2: a veth pair as the wire of a
# transit link between two border nodes: never a bridge port
# (docs/embedding.md, transit), always addressed (ADDR/30).
netns_wire() {
    ip -n "$P-$1" link add "$2" type veth peer name "$5" netns "$P-$4" || return 1
    ip -n "$P-$1" addr add "$3/30" dev "$2" || return 1
    ip -n "$P-$4" addr add "$6/30" dev "$5" || return 1
    ip -n "$P-$1" link set "$2" up || return 1
    ip -n "$P-$4" link set "$5" up
}

# netns_dp_nodes NAME...: the dataplane map's node lines for netns_nodes.
netns_dp_nodes() {
    for nd_n in "$@"; do
        echo "node $nd_n netns $P-$nd_n bridge br0 mode $mode"
    done
}

# netns_line DATAPLANE COMMENT: the substrate of tests/embedding/substrate.yaml
# and tests/pipd-e2e/substrate.yaml (hosts h1 and h2 joined through the
# switch sw by the links h1-sw and sw-h2), and its dataplane map in the file
# DATAPLANE, which starts with the line "# COMMENT".
netns_line() {
    netns_nodes h1 sw h2 || return 1
    netns_link h1 p-h1sw 10.255.1.1 sw p-swh1 10.255.1.2 || return 1
    netns_link sw p-swh2 10.255.2.1 h2 p-h2sw 10.255.2.2 || return 1
    {
        echo "# $2"
        netns_dp_nodes h1 sw h2
        echo "port h1-sw h1 p-h1sw address 10.255.1.1"
        echo "port h1-sw sw p-swh1 address 10.255.1.2"
        echo "port sw-h2 sw p-swh2 address 10.255.2.1"
        echo "port sw-h2 h2 p-h2sw address 10.255.2.2"
    } >"$1"
}

# netns_remove: removes every namespace of the test, substrate and VNodes.
netns_remove() {
    for nr_ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        case $nr_ns in
        "$P"-* | cn-"$P"-*) ip netns del "$nr_ns" 2>/dev/null ;;
        esac
    done
}

# netns_snapshot: the devices of each node, one line per node, to compare
# the substrate before and after.
netns_snapshot() {
    for ns_n in $NETNS_NODES; do
        printf '%s:' "$ns_n"
        ip -n "$P-$ns_n" -o link show | awk -F': ' '{print $2}' | sort | tr '\n' ' '
        echo
    done
}

# netns_owned NAME: the devices on node NAME made for the test's CloudNets:
# those with a "cloudnet=$P..." owner alias, those named like a VNode veth,
# VXLAN or wire device (cn, 11 hex digits, h, x or t) whatever their alias
# (a crash between creating a device and tagging it must not hide it), and
# per-tag bridges.
netns_owned() {
    ip -n "$P-$1" -o link show |
        grep -E ": cn[0-9a-f]{11}[hxt][:@]|alias cloudnet=$P-|: cnb[0-9]+[:@]"
}

# netns_count_ours TAGS: how many things made for the test's CloudNets
# exist: VNode namespaces, devices with its owner alias in the initial
# namespace, owned devices on the nodes and, in VLAN mode, the tags that
# match the extended regular expression TAGS (a whole word) on their bridge
# ports. 0 when the CloudNets left nothing.
netns_count_ours() {
    nc_tags=$1
    nc_c=$(ip netns list | awk '{print $1}' | grep -c "^cn-$P-")
    nc_c=$((nc_c + $(ip -o link show | grep -c "alias cloudnet=$P-")))
    for nc_n in $NETNS_NODES; do
        nc_c=$((nc_c + $(netns_owned "$nc_n" | wc -l)))
        if [ "$mode" = vlan ]; then
            nc_c=$((nc_c + $(bridge -n "$P-$nc_n" vlan show | grep -cwE "$nc_tags")))
        fi
    done
    echo "$nc_c"
}

# netns_show_ours: lists the namespaces and devices netns_count_ours
# counts, for a failure message.
netns_show_ours() {
    ip netns list | awk '{print $1}' | grep "^cn-$P-"
    ip -o link show | grep "alias cloudnet=$P-"
    for ns_n in $NETNS_NODES; do
        netns_owned "$ns_n" | sed "s/^/$ns_n: /"
    done
}

# wire_dev NAME ID: "ip -d link" of the wire device of CloudNet ID on the
# border node NAME.
wire_dev() {
    wd_dev=$(ip -n "$P-$1" -o link show | grep "alias cloudnet=$2 transit=" |
        awk -F': ' '{print $2}' | cut -d@ -f1)
    [ -n "$wd_dev" ] && ip -n "$P-$1" -d link show dev "$wd_dev"
}

# pingable NETNS ADDRESS: NETNS reaches ADDRESS.
pingable() {
    ip netns exec "$1" ping -c 3 -i 0.2 -W 1 "$2"
}
