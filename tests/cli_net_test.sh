#!/bin/sh
# Black-box tests of cloudnet's network verbs (submit, status, list, start,
# stop, powercycle, renew, describe, console, manifest, modify, release)
# against the real pipd: a private MariaDB, pipd on a free loopback port
# with two KVM hosts served by the libvirt test driver. Checks the text and --json
# output, exit statuses, faults (wrong secret, unknown id), an unreachable
# URL, a peer that never answers, a broker's answer (a stand-in VNP in
# python3), a bad document (FILE:LINE:COLUMN, nothing sent) and the client
# configuration (errors, the permission warning). Prints "N passed, N
# failed" last.
#
# BUILD (set by tests/run-tests.sh) names the build tree; TEST_SRCDIR the
# tests/ folder of the source tree. python3 checks the JSON and plays the
# broker and the silent peer.
set -u

BUILD=${BUILD:-build}
SRC=${TEST_SRCDIR:-$(pwd)/tests}
case $SRC in /*) ;; *) SRC=$(pwd)/$SRC ;; esac
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
CLOUDNET=$BUILD/bin/cloudnet
PIPD=$BUILD/bin/pipd
SECRET=cli-net-secret-1

. "$SRC/lib/check.sh"
. "$SRC/lib/daemons.sh"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cli_net_test.XXXXXX") || exit 1
PIPD_PID=
FAKE_PID=
HUNG_PID=

cleanup() {
    [ -n "$PIPD_PID" ] && daemon_stop "$PIPD_PID" KILL
    [ -n "$FAKE_PID" ] && daemon_stop "$FAKE_PID"
    [ -n "$HUNG_PID" ] && daemon_stop "$HUNG_PID"
    db_stop "$TMP/db"
    rm -rf "$TMP"
}
on_exit cleanup

# expect_json NAME PYTHON-EXPRESSION: the last stdout is JSON and the
# expression (over the parsed value j) is true.
expect_json() {
    if python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)
' "$TMP/out" "$2" 2>"$TMP/jsonerr"; then
        pass "$1 (json: $2)"
    else
        fail "$1 (json: $2)" "got: $(head -c 600 "$TMP/out")" "$(cat "$TMP/jsonerr")"
    fi
}

# ---- setup: MariaDB, pipd, the client configuration ----

need_built "$CLOUDNET" "$PIPD"
command -v python3 >/dev/null 2>&1 || give_up "python3 is needed to check the JSON output"
SOCK=$(db_start "$TMP/db" 2>"$TMP/db.err") ||
    give_up "MariaDB did not start: $(cat "$TMP/db.err")"

mkdir -p "$TMP/images" "$TMP/templates"
echo "not really a disk image" >"$TMP/templates/debian-12.img"
cat >"$TMP/substrate.yaml" <<'EOF'
rdl: 1
kind: underlay
name: pip-cli
vlan_range: [100, 199]
elements:
  h1:
    type: /node/host/server/kvm
    resources: {cpu: 8, memory: 16384}
    features: {arch: x86_64}
  h2:
    type: /node/host/server/kvm
    resources: {cpu: 8, memory: 16384}
    features: {arch: x86_64}
  h1-h2:
    type: /link/ethernet/vlan
    resources: {bandwidth: 1000}
interfaces:
  - {between: [h1, h1-h2]}
  - {between: [h1-h2, h2]}
EOF
cat >"$TMP/shop.yaml" <<'EOF'
rdl: 1
kind: overlay
name: shop
elements:
  web:
    type: /node/host/generic
    resources: {cpu: 2, memory: 2048}
    features: {image: debian-12}
  db:
    type: /node/host/generic
    resources: {cpu: 2, memory: 4096}
    features: {image: debian-12}
  web-db:
    type: /link/generic
    resources: {bandwidth: 100}
interfaces:
  - {between: [web, web-db]}
  - {between: [web-db, db]}
EOF
# shop.yaml with twice the bandwidth and a cache VNode of its own.
cat >"$TMP/shop-more.yaml" <<'EOF'
rdl: 1
kind: overlay
name: shop
elements:
  web:
    type: /node/host/generic
    resources: {cpu: 2, memory: 2048}
    features: {image: debian-12}
  db:
    type: /node/host/generic
    resources: {cpu: 2, memory: 4096}
    features: {image: debian-12}
  web-db:
    type: /link/generic
    resources: {bandwidth: 200}
  cache:
    type: /node/host/generic
    resources: {cpu: 1, memory: 1024}
    features: {image: debian-12}
interfaces:
  - {between: [web, web-db]}
  - {between: [web-db, db]}
EOF
cat >"$TMP/bad.yaml" <<'EOF'
rdl: 1
kind: overlay
name: bad
elements:
  vm:
    type: /node/host/generic
    resources: {cpu: -3}
EOF

PORT=$(free_port)
URL=http://127.0.0.1:$PORT/RPC2
cat >"$TMP/pipd.conf" <<EOF
name pip-cli
listen 127.0.0.1:$PORT
database socket=$SOCK name=cli_net_test user=root
substrate $TMP/substrate.yaml
peer sp $SECRET
peer other cli-net-secret-2
libvirt test:///default
images $TMP/images
templates $TMP/templates
max-lease 600
map-time-limit 5
EOF
chmod 600 "$TMP/pipd.conf"
daemon_start "$TMP/pipd.log" "$PIPD" -d -f "$TMP/pipd.conf"
PIPD_PID=$daemon_pid
daemon_wait "$PIPD_PID" "$TMP/pipd.log" port_listening "$PORT" || give_up "pipd did not start"

# The configuration names the peer without /RPC2: both forms are one peer.
cat >"$TMP/client.conf" <<EOF
# cli_net_test
url http://127.0.0.1:$PORT
secret http://127.0.0.1:$PORT $SECRET
EOF
chmod 600 "$TMP/client.conf"
CLOUDNET_CONFIG=$TMP/client.conf
export CLOUDNET_CONFIG
unset CLOUDNET_SECRET

# ---- help and usage ----

for verb in submit modify status list release start stop powercycle renew console manifest describe; do
    run "$CLOUDNET" "$verb" --help
    if [ "$rc" -eq 0 ] && grep -q "^Usage: cloudnet $verb" "$TMP/out"; then
        pass "$verb --help"
    else
        fail "$verb --help" "exit $rc: $(head -c 300 "$TMP/out")"
    fi
done
run "$CLOUDNET" --help
expect_has "cloudnet --help lists submit" out "submit"
run "$CLOUDNET" submit "$URL"
expect "submit without FILE" 2
run "$CLOUDNET" submit "$URL" shop.yaml --lease 0
expect "submit --lease 0" 2
run "$CLOUDNET" status shop1 --secret "$SECRET"
expect "no --secret option: secrets stay off the command line" 2
run "$CLOUDNET" status
expect "status without ID" 2
run "$CLOUDNET" console shop1
expect "console without ELEMENT" 2

# ---- submit ----

run "$CLOUDNET" submit "$URL" bad.yaml
expect "submit a bad document" 1
expect_has "submit a bad document" err "bad.yaml:7:"
run "$CLOUDNET" submit "$URL" substrate.yaml
expect "submit an underlay" 1
expect_has "submit an underlay" err "needs an overlay"
run "$CLOUDNET" list --json
expect_json "nothing was sent for the bad documents" 'all(x["id"] not in ("bad", "pip-cli") for x in j)'

run "$CLOUDNET" submit "$URL" shop.yaml --id shop1
expect "submit" 0
expect_has "submit" out "shop1: negotiating with $URL"
expect_has "submit" out "shop1: allocated, confirming"
expect_has "submit" out "shop1: provisioned"
if grep -Eq '^  web +node +h[12]$' "$TMP/out" &&
    grep -Eq '^  web-db +link +h[12].*vlan 1[0-9][0-9]$' "$TMP/out"; then
    pass "submit prints where each element went"
else
    fail "submit prints where each element went" "$(cat "$TMP/out")"
fi

run "$CLOUDNET" submit "$URL" shop.yaml --id shop2 --json --lease 60
expect "submit --json" 0
expect_json "submit --json" 'j["id"] == "shop2" and j["state"] == "provisioned" and j["expires"] == 0'
expect_json "submit --json manifest" 'j["manifest"]["web"]["to"] in ("h1", "h2") and 100 <= j["manifest"]["web-db"]["vlan"] <= 199'
expect_json "submit --json manifest_yaml" '"kind: mapping" in j["manifest_yaml"]'

# Idempotent: the same id and document again.
run "$CLOUDNET" submit "$URL" shop.yaml --id shop1
expect "submit again" 0
run sh -c "\"$CLOUDNET\" submit \"$URL\" - --id shop1 --json <shop.yaml"
expect "submit from standard input" 0
expect_json "submit from standard input" 'j["id"] == "shop1" and j["state"] == "provisioned"'
run sh -c "\"$CLOUDNET\" submit \"$URL\" - <bad.yaml"
expect "a bad document on standard input" 1
expect_has "a bad document on standard input" err "<stdin>:7:"

# ---- status, list ----

run "$CLOUDNET" status shop1
expect "status" 0
expect_has "status" out "state:   provisioned"
if grep -Eq '^  web-db +configured$' "$TMP/out"; then
    pass "status shows element states"
else
    fail "status shows element states" "$(cat "$TMP/out")"
fi
run "$CLOUDNET" status shop1 --json
expect_json "status --json" 'j["state"] == "provisioned" and j["elements"]["web"] == "defined" and j["elements"]["web-db"] == "configured"'

run "$CLOUDNET" list
expect "list" 0
expect_has "list" out "shop1"
run "$CLOUDNET" list --json
expect_json "list --json" 'sorted(x["id"] for x in j if x["state"] == "provisioned") == ["shop1", "shop2"]'

# ---- start, stop, console ----

run "$CLOUDNET" start shop1 --json
expect "start" 0
expect_json "start --json" 'j["elements"]["web"] == "running" and j["elements"]["db"] == "running"'
run "$CLOUDNET" stop shop1 db
expect "stop one element" 0
run "$CLOUDNET" status shop1 --json
expect_json "stop db, web still runs" 'j["elements"]["web"] == "running" and j["elements"]["db"] != "running"'
run "$CLOUDNET" stop shop1 ghost
expect "stop an unknown element" 1
expect_has "stop an unknown element" err "(fault 3)"

run "$CLOUDNET" powercycle shop1 db --json
expect "powercycle a stopped VNode" 0
expect_json "powercycle starts it" 'j["elements"]["db"] == "running" and j["elements"]["web"] == "running"'

run "$CLOUDNET" renew shop1 --lease 100 --json
expect "renew a provisioned CloudNet" 0
expect_json "a provisioned CloudNet has no lease" 'j["state"] == "provisioned" and j["expires"] == 0'
run "$CLOUDNET" renew shop1 --lease 0
expect "renew --lease 0" 2
run "$CLOUDNET" renew no-such-net
expect "renew an unknown id" 1
expect_has "renew an unknown id" err "(fault 3)"

run "$CLOUDNET" describe
expect "describe" 0
expect_has "describe" out "name:    pip-cli"
expect_has "describe" out "free VLAN tags:"
run "$CLOUDNET" describe --json
expect_json "describe --json" 'j["name"] == "pip-cli" and j["capacity"]["cpu"] == 16 and j["resources"]["cpu"] == 8 and j["largest_free"]["cpu"] == 8 and j["transit"] == [] and all(a >= 100 and b <= 199 for a, b in j["vlan_ranges"])'

run "$CLOUDNET" console shop1 web
expect "console" 0
expect_has "console" out "test:///default#cn-shop1-web"
run "$CLOUDNET" console shop1 web --json
expect_json "console --json" 'j == {"id": "shop1", "element": "web", "console": "test:///default#cn-shop1-web"}'

# ---- manifest ----

run "$CLOUDNET" manifest shop1
expect "manifest" 0
expect_has "manifest" out "kind: mapping"
cp "$TMP/out" "$TMP/shop1-ml.yaml"
run "$CLOUDNET" validate shop1-ml.yaml
expect "the manifest is a valid document" 0
run "$CLOUDNET" manifest shop1 --json
expect_json "manifest --json" 'j["id"] == "shop1" and "web" in j["manifest"] and "kind: mapping" in j["manifest_yaml"]'

# ---- modify ----

run "$CLOUDNET" modify shop1
expect "modify without FILE" 2
run "$CLOUDNET" modify shop1 shop-more.yaml extra.yaml
expect "modify with an operand too many" 2
run "$CLOUDNET" modify shop1 bad.yaml
expect "modify to a bad document" 1
expect_has "modify to a bad document" err "bad.yaml:7:"
run "$CLOUDNET" modify shop1 substrate.yaml
expect "modify to an underlay" 1
expect_has "modify to an underlay" err "needs an overlay"
run "$CLOUDNET" manifest shop1 --json
cp "$TMP/out" "$TMP/before.json"
run "$CLOUDNET" modify no-such-net shop-more.yaml
expect "modify an unknown id" 1
expect_has "modify an unknown id" err "(fault 3)"
run env CLOUDNET_SECRET=cli-net-secret-2 "$CLOUDNET" modify shop1 shop-more.yaml
expect "modify another peer's CloudNet" 1
expect_has "modify another peer's CloudNet" err "(fault 2)"
run "$CLOUDNET" manifest shop1 --json
if cmp -s "$TMP/out" "$TMP/before.json"; then
    pass "refused modifies changed nothing"
else
    fail "refused modifies changed nothing" "$(head -c 600 "$TMP/out")"
fi
run "$CLOUDNET" modify shop1 shop-more.yaml
expect "modify" 0
expect_has "modify" out "shop1: provisioned"
if grep -Eq '^  cache +node +h[12]$' "$TMP/out" && grep -Eq '^  web +node +h[12]$' "$TMP/out"; then
    pass "modify prints where the new elements went"
else
    fail "modify prints where the new elements went" "$(cat "$TMP/out")"
fi
run "$CLOUDNET" modify shop1 - --json <"$TMP/shop-more.yaml"
expect "modify again, from standard input" 0
expect_json "modify --json" 'j["id"] == "shop1" and j["state"] == "provisioned" and "cache" in j["manifest"]'
WEB_BEFORE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifest"]["web"]["to"])' "$TMP/before.json")
expect_json "modify keeps web on its host" "j['manifest']['web']['to'] == '$WEB_BEFORE'"
run "$CLOUDNET" status shop1 --json
expect_json "status after modify" 'j["elements"]["cache"] == "running" and j["elements"]["web"] == "running"'

# ---- release ----

run "$CLOUDNET" release shop2
expect "release" 0
expect_has "release" out "state:   released"
run "$CLOUDNET" release shop2 --json
expect_json "release again" 'j["state"] == "released" and j["reason"].startswith("released by")'
run "$CLOUDNET" status shop2 --json
expect_json "status after release" 'j["state"] == "released" and j["elements"]["web"] == "absent"'

# ---- faults ----

run "$CLOUDNET" status no-such-net
expect "unknown id" 1
expect_has "unknown id" err "cloudnet: status no-such-net: $URL: "
expect_has "unknown id" err "(fault 3)"

run env CLOUDNET_SECRET=not-the-secret "$CLOUDNET" status shop1
expect "wrong secret" 1
expect_has "wrong secret" err "(fault 2)"
run env CLOUDNET_SECRET=cli-net-secret-2 "$CLOUDNET" release shop1
expect "another peer's CloudNet" 1
expect_has "another peer's CloudNet" err "(fault 2)"
run "$CLOUDNET" status shop1 --json
expect_json "still provisioned after the refused release" 'j["state"] == "provisioned"'

DEAD=http://127.0.0.1:$(free_port)/RPC2
run env CLOUDNET_SECRET=$SECRET "$CLOUDNET" status shop1 --url "$DEAD"
expect "unreachable URL" 1
expect_has "unreachable URL" err "$DEAD"
expect_lacks "unreachable URL" err "(fault"

# ---- a broker's answer; a peer that never answers ----

# A stand-in VNP: negotiate answers with how each provider answered. For
# fed1, progress is the unknown method a PIP answers (xmlrpc-c's fault
# -506): cloudnet must stop asking. For live1, progress first knows nothing
# (fault 3: keep asking), then reports pip-b, and negotiate answers only
# once that report went out, so pip-b's line can only come from progress.
cat >"$TMP/fake_vnp.py" <<'EOF'
import socketserver
import threading
import time
from xmlrpc.client import Fault
from xmlrpc.server import SimpleXMLRPCServer

MANIFEST = ("rdl: 1\nkind: mapping\nname: shop\noverlay: shop\nunderlay: vnp\n"
            "map:\n  web: {to: pip-a}\n  db: {to: pip-b}\n"
            "  web-db: {path: [pip-a, a-b, pip-b], vlan: 3001}\n")


class Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True


server = Server(("127.0.0.1", 0), logRequests=False)
calls = {}
reported = threading.Event()


def negotiate(secret, cn_id, yaml, lease):
    if cn_id == "live1":
        reported.wait(10)
    else:
        time.sleep(0.5)
    return {"id": cn_id, "state": "allocated", "expires": 2000000000,
            "manifest_yaml": MANIFEST,
            "providers": [{"name": "pip-b", "state": "allocated", "ms": 41.5},
                          {"name": "pip-a", "state": "allocated", "ms": 7}]}


def progress(secret, cn_id):
    calls[cn_id] = calls.get(cn_id, 0) + 1
    if cn_id != "live1":
        raise Fault(-506, "Unknown method")
    if calls[cn_id] == 1:
        raise Fault(3, "no negotiation of live1 in flight")
    threading.Timer(0.3, reported.set).start()
    return {"id": cn_id, "done": False,
            "providers": [{"name": "pip-b", "state": "allocated", "ms": 41.5}]}


def progress_calls(cn_id):
    return calls.get(cn_id, 0)


def confirm(secret, cn_id):
    return {"id": cn_id, "state": "provisioned", "expires": 0}


server.register_function(negotiate)
server.register_function(confirm)
server.register_function(progress)
server.register_function(progress_calls)
print(server.server_address[1], flush=True)
server.serve_forever()
EOF
python3 "$TMP/fake_vnp.py" >"$TMP/fake.port" 2>"$TMP/fake.err" &
FAKE_PID=$!
daemon_wait "$FAKE_PID" "$TMP/fake.err" test -s "$TMP/fake.port" ||
    give_up "the stand-in VNP did not start"
VURL=http://127.0.0.1:$(cat "$TMP/fake.port")/RPC2
run env CLOUDNET_SECRET=any "$CLOUDNET" submit "$VURL" shop.yaml --id fed1
expect "submit to a broker" 0
if grep -Eq '^  pip-a +allocated +7 ms$' "$TMP/out" &&
    grep -A1 -E '^  pip-a ' "$TMP/out" | grep -Eq '^  pip-b +allocated +42 ms$'; then
    pass "one line per provider, in the order they answered"
else
    fail "one line per provider, in the order they answered" "$(cat "$TMP/out")"
fi
if grep -Eq '^  web-db +link +pip-a - a-b - pip-b +vlan 3001$' "$TMP/out" &&
    grep -Eq '^  db +node +pip-b$' "$TMP/out"; then
    pass "a broker's manifest summary"
else
    fail "a broker's manifest summary" "$(cat "$TMP/out")"
fi
run env CLOUDNET_SECRET=any "$CLOUDNET" submit "$VURL" shop.yaml --id fed1 --json
expect "submit --json to a broker" 0
expect_json "submit --json to a broker" '[p["name"] for p in j["providers"]] == ["pip-b", "pip-a"] and j["providers"][0]["ms"] == 41.5 and j["state"] == "provisioned"'
progress_calls() {
    python3 -c 'import sys, xmlrpc.client; print(xmlrpc.client.ServerProxy(sys.argv[1]).progress_calls(sys.argv[2]))' "$VURL" "$1"
}
n=$(progress_calls fed1)
if [ "$n" = 1 ]; then
    pass "no progress method: asked once, then not again"
else
    fail "no progress method: asked once, then not again" "progress calls: $n"
fi

run env CLOUDNET_SECRET=any "$CLOUDNET" submit "$VURL" shop.yaml --id live1
expect "submit to a broker reporting progress" 0
n=$(progress_calls live1)
lines=$(grep -cE '^  pip-[ab] +allocated' "$TMP/out")
if [ "$(grep -E '^  pip-[ab] ' "$TMP/out" | head -1 | awk '{print $1}')" = pip-b ] &&
    [ "$lines" = 2 ] && [ "$n" -ge 2 ] &&
    grep -Eq '^  pip-a +allocated +7 ms$' "$TMP/out"; then
    pass "live progress: pip-b printed as it answered, pip-a after, each once"
else
    fail "live progress: pip-b printed as it answered, pip-a after, each once" \
        "progress calls: $n" "$(cat "$TMP/out")"
fi

# Listens, never accepts: the call gives up after --timeout.
python3 -c '
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(120)
' >"$TMP/hung.port" &
HUNG_PID=$!
daemon_wait "$HUNG_PID" /dev/null test -s "$TMP/hung.port" || give_up "the silent peer did not start"
HURL=http://127.0.0.1:$(cat "$TMP/hung.port")/RPC2
t0=$(date +%s)
run env CLOUDNET_SECRET=any "$CLOUDNET" status x --url "$HURL" --timeout 1
t1=$(date +%s)
expect "a peer that never answers" 1
expect_has "a peer that never answers" err "cloudnet: status x: $HURL: no answer within 1000 ms"
if [ $((t1 - t0)) -le 3 ]; then
    pass "--timeout 1 gives up within 3 s"
else
    fail "--timeout 1 gives up within 3 s" "took $((t1 - t0)) s"
fi

# ---- the client configuration ----

chmod 644 "$TMP/client.conf"
run "$CLOUDNET" status shop1
expect "group-readable configuration still works" 0
expect_has "group-readable configuration" err "readable by others than its owner"
chmod 600 "$TMP/client.conf"
run "$CLOUDNET" status shop1
expect_lacks "private configuration" err "readable"

printf 'url %s\nsecrets %s x\nsecret %s\n' "$URL" "$URL" "$URL" >"$TMP/broken.conf"
chmod 600 "$TMP/broken.conf"
run env CLOUDNET_CONFIG="$TMP/broken.conf" "$CLOUDNET" status shop1
expect "broken configuration" 1
expect_has "broken configuration" err "broken.conf:2: unknown directive 'secrets'"
expect_has "broken configuration" err "broken.conf:3: 'secret' takes a URL and a secret"

printf 'url %s\n' "$URL" >"$TMP/nosecret.conf"
chmod 600 "$TMP/nosecret.conf"
run env CLOUDNET_CONFIG="$TMP/nosecret.conf" "$CLOUDNET" status shop1
expect "no secret" 1
expect_has "no secret" err "no secret for $URL"
run env CLOUDNET_CONFIG="$TMP/nosecret.conf" CLOUDNET_SECRET=$SECRET "$CLOUDNET" status shop1
expect "CLOUDNET_SECRET" 0

: >"$TMP/empty.conf"
run env CLOUDNET_CONFIG="$TMP/empty.conf" CLOUDNET_SECRET=$SECRET "$CLOUDNET" status shop1
expect "no URL" 1
expect_has "no URL" err "no URL"
run env CLOUDNET_CONFIG="$TMP/missing.conf" "$CLOUDNET" status shop1
expect "missing configuration named by CLOUDNET_CONFIG" 1
expect_has "missing configuration" err "missing.conf"

run "$CLOUDNET" release shop1
expect "release shop1" 0

finish
