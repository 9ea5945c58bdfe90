#!/bin/sh
# Starts or stops a private MariaDB server in a scratch directory, listening
# only on a UNIX socket (no TCP, no system service). Tests and the demo use it.
#
#   scripts/mariadb-scratch.sh start DIR   # prints the socket path
#   scripts/mariadb-scratch.sh stop DIR
#   scripts/mariadb-scratch.sh status DIR
#
# The server runs as the invoking user; root works (--user=root). Its error
# log is DIR/mariadb.err.
set -eu

usage() {
    echo "usage: $0 start|stop|status DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
sock="$dir/mysql.sock"
pidfile="$dir/mariadb.pid"

find_bin() {
    for b in "$@"; do
        if command -v "$b" >/dev/null 2>&1; then
            command -v "$b"
            return 0
        fi
        for d in /usr/sbin /usr/bin /usr/libexec; do
            [ -x "$d/$b" ] && { echo "$d/$b"; return 0; }
        done
    done
    echo "mariadb-scratch: none of $* found (run scripts/install-deps.sh)" >&2
    exit 1
}

running() {
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

case "$cmd" in
start)
    if running; then
        echo "$sock"
        exit 0
    fi
    server=$(find_bin mariadbd mysqld)
    installdb=$(find_bin mariadb-install-db mysql_install_db)
    if [ ! -d "$dir/data/mysql" ]; then
        "$installdb" --no-defaults --datadir="$dir/data" --tmpdir="$dir" --user="$(id -un)" \
            --auth-root-authentication-method=normal --skip-test-db \
            >"$dir/install.log" 2>&1 || {
            cat "$dir/install.log" >&2
            exit 1
        }
    fi
    # Small buffers: tests start several servers on a 2-core machine.
    "$server" --no-defaults --datadir="$dir/data" --tmpdir="$dir" --socket="$sock" --pid-file="$pidfile" \
        --skip-networking --user="$(id -un)" --log-error="$dir/mariadb.err" \
        --innodb-buffer-pool-size=32M --innodb-log-file-size=16M \
        --skip-log-bin --max-connections=200 --character-set-server=utf8mb4 \
        >/dev/null 2>&1 &
    i=0
    while [ $i -lt 300 ]; do
        if [ -S "$sock" ] && running; then
            echo "$sock"
            exit 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "mariadb-scratch: server did not start; see $dir/mariadb.err" >&2
    tail -n 20 "$dir/mariadb.err" >&2 || true
    exit 1
    ;;
stop)
    if running; then
        pid=$(cat "$pidfile")
        kill "$pid"
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$sock" "$pidfile"
    ;;
status)
    if running; then
        echo "running: $sock"
    else
        echo "stopped"
        exit 1
    fi
    ;;
*)
    usage
    ;;
esac
