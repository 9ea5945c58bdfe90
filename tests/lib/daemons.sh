# Daemons for the end-to-end tests, sourced after tests/lib/check.sh: a
# private MariaDB (scripts/mariadb-scratch.sh), free loopback ports, and
# pipd or vnpd started in the background and waited for. Other tests may
# run at the same time: ports are chosen at run time, databases
# live in the test's own scratch directory.

DAEMONS_SCRIPTS=${TEST_SRCDIR:-$(pwd)/tests}/../scripts

# db_start DIR: starts a private MariaDB in DIR and prints its socket. It
# gets a TMPDIR of its own: MariaDB names its temporary tables in it after
# its pid, and the servers of other tests share /tmp.
db_start() {
    mkdir -p "$1/tmp" || return 1
    TMPDIR=$1/tmp sh "$DAEMONS_SCRIPTS/mariadb-scratch.sh" start "$1"
}

# db_stop DIR: stops the MariaDB in DIR, if one runs.
db_stop() {
    sh "$DAEMONS_SCRIPTS/mariadb-scratch.sh" stop "$1" >/dev/null 2>&1
}

# db_sql DATABASE QUERY: the rows of QUERY, tab-separated, on the server at
# $SOCK.
db_sql() {
    mysql --no-defaults -S "$SOCK" -u root -N -B "$1" -e "$2"
}

# port_listening PORT: something listens on loopback TCP port PORT.
port_listening() {
    ss -Htln "sport = :$1" | grep -q .
}

# free_port: prints a TCP port no socket uses. Start each daemon before
# choosing the next port, so ports never repeat. The port is below the
# kernel's range of ephemeral ports: a client's connection in any other test
# may take one of those between the choice and the daemon's bind.
free_port() {
    fp_top=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
    [ "$fp_top" -gt 12000 ] || fp_top=61000
    while :; do
        fp_p=$(shuf -i 10000-$((fp_top - 1)) -n 1)
        ss -Htan "sport = :$fp_p" | grep -q . || {
            echo "$fp_p"
            return
        }
    done
}

# daemon_start LOG COMMAND...: starts COMMAND in the background, its output
# appended to LOG, and sets daemon_pid.
# shellcheck disable=SC2034 # daemon_pid is for the tests
daemon_start() {
    ds_log=$1
    shift
    "$@" >>"$ds_log" 2>&1 &
    daemon_pid=$!
}

# daemon_wait PID LOG COMMAND...: polls COMMAND until it succeeds (the
# daemon answers). Fails, showing LOG, when process PID ends first or after
# 30 s.
daemon_wait() {
    dw_pid=$1
    dw_log=$2
    shift 2
    dw_i=0
    until "$@" >/dev/null 2>&1; do
        dw_i=$((dw_i + 1))
        if [ $dw_i -gt 300 ] || ! kill -0 "$dw_pid" 2>/dev/null; then
            indent "$dw_log"
            return 1
        fi
        sleep 0.1
    done
}

# daemon_stop PID [SIGNAL]: sends SIGNAL (TERM unless told) to process PID,
# reaps it and returns its exit status.
daemon_stop() {
    kill -"${2:-TERM}" "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# sanitizer_clean NAME LOG: passes when the daemon's LOG holds no sanitizer
# report.
sanitizer_clean() {
    if grep -qE "AddressSanitizer|LeakSanitizer|runtime error" "$2"; then
        fail "$1 ran without a sanitizer report"
        indent "$2"
    else
        pass "$1 ran without a sanitizer report"
    fi
}
