#!/bin/sh
# Black-box tests of the cloudnet program: exit statuses, the exact
# FILE:LINE:COLUMN lines of validate, completion and drawing, help and
# usage errors. Prints one line per check and "N passed, N failed" last;
# exits non-zero when any check failed.
#
# BUILD (set by tests/run-tests.sh) names the build tree; TEST_SRCDIR the
# tests/ folder of the source tree.
set -u

BUILD=${BUILD:-build}
SRC=${TEST_SRCDIR:-$(pwd)/tests}
CLOUDNET=${CLOUDNET:-$BUILD/bin/cloudnet}
case $CLOUDNET in /*) ;; *) CLOUDNET=$(pwd)/$CLOUDNET ;; esac
case $SRC in /*) ;; *) SRC=$(pwd)/$SRC ;; esac
EXAMPLES=$SRC/../examples

. "$SRC/lib/check.sh"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cli_test.XXXXXX") || exit 1
cleanup() {
    rm -rf "$TMP"
}
on_exit cleanup

[ -x "$CLOUDNET" ] || give_up "$CLOUDNET is not built"

# ---- top level ----

run "$CLOUDNET" --version
expect "--version" 0
expect_has "--version" out "cloudnet "

run "$CLOUDNET" --help
expect "--help" 0
for verb in validate complete dot; do
    expect_has "--help" out "  $verb "
done
expect_has "--help" out "Exit status:"
expect_has "--help" out "2  usage error"

run "$CLOUDNET"
expect "no command" 2
expect_has "no command" err "Usage: cloudnet"

run "$CLOUDNET" frobnicate
expect "unknown command" 2
expect_file "unknown command" err "cloudnet: unknown command 'frobnicate'; see 'cloudnet --help'"

run "$CLOUDNET" --frobnicate
expect "unknown top-level option" 2

for verb in validate complete dot; do
    run "$CLOUDNET" "$verb" --help
    expect "$verb --help" 0
    expect_has "$verb --help" out "Usage: cloudnet $verb"
    expect_has "$verb --help" out "Exit status"
    run "$CLOUDNET" help "$verb"
    expect "help $verb" 0
    run "$CLOUDNET" "$verb" --no-such-option x.yaml
    expect "$verb unknown option" 2
    expect_file "$verb unknown option" err \
        "cloudnet: $verb: unknown option '--no-such-option'; see 'cloudnet $verb --help'"
    run "$CLOUDNET" "$verb"
    expect "$verb without FILE" 2
done

# ---- validate ----

run "$CLOUDNET" validate "$EXAMPLES"/*.yaml
expect "validate every example" 0
expect_empty "validate every example" err

cp "$EXAMPLES/webshop.yaml" "$TMP/good.yaml"
cat >"$TMP/bad.yaml" <<'EOF'
rdl: 1
kind: overlay
name: bad
elements:
  a:
    type: /node/host/generic
    resources: {cpu: -2}
  b:
    type: /link/generic
interfaces:
  - {between: [a, zz]}
EOF
run "$CLOUDNET" validate good.yaml bad.yaml
expect "validate good and bad" 1
expect_file "validate good and bad" err "bad.yaml:7:22: resource 'cpu' must not be negative
bad.yaml:8:3: link 'b' has 0 interfaces, needs 2
bad.yaml:11:19: interface names unknown element 'zz'"
expect_file "validate good and bad" out "good.yaml: ok: overlay 'webshop', level 0, 8 elements"

run "$CLOUDNET" validate -q good.yaml
expect "validate -q" 0
expect_empty "validate -q" out

printf 'rdl: 1\nkind: [\n' >"$TMP/syntax.yaml"
run "$CLOUDNET" validate syntax.yaml
expect "validate a syntax error" 1
expect_has "validate a syntax error" err "syntax.yaml:3:1: "

run "$CLOUDNET" validate missing.yaml
expect "validate a missing file" 1
expect_has "validate a missing file" err "missing.yaml"

head -c 4096 /dev/urandom >"$TMP/noise.yaml" 2>/dev/null
run "$CLOUDNET" validate noise.yaml
expect "validate random bytes" 1

run sh -c "'$CLOUDNET' validate - <good.yaml"
expect "validate standard input" 0
expect_has "validate standard input" out "-: ok: overlay 'webshop'"

# ---- complete ----

run "$CLOUDNET" complete "$EXAMPLES/vague.yaml"
expect "complete vague" 0
cp "$TMP/out" "$TMP/completed.yaml"
if cmp -s "$TMP/completed.yaml" "$SRC/rdl-complete-out/vague.yaml"; then
    pass "complete vague (stdout is the golden file)"
else
    fail "complete vague (stdout is the golden file)"
fi

run "$CLOUDNET" validate completed.yaml
expect "the completed overlay is valid" 0
expect_has "the completed overlay is valid" out "level 1"

run "$CLOUDNET" complete -o out.yaml "$EXAMPLES/vague.yaml"
expect "complete -o" 0
expect_empty "complete -o" out
if cmp -s "$TMP/out.yaml" "$SRC/rdl-complete-out/vague.yaml"; then
    pass "complete -o (file is the golden file)"
else
    fail "complete -o (file is the golden file)"
fi

cat >"$TMP/conflict.yaml" <<'EOF'
rdl: 1
kind: overlay
name: conflict
elements:
  web:
    type: /node/host/generic
    features: {arch: [aarch64]}
  db:
    type: /node/host/generic
    features: {arch: {any_of: [x86_64], same_as: web}}
EOF
run "$CLOUDNET" complete -o never.yaml conflict.yaml
expect "complete a conflict" 1
expect_file "complete a conflict" err \
    "conflict.yaml:10:22: cannot complete feature 'arch' of 'db': no value satisfies [x86_64] and same_as 'web' ([aarch64])"
if [ -e "$TMP/never.yaml" ]; then
    fail "complete a conflict (no output file)"
else
    pass "complete a conflict (no output file)"
fi

run "$CLOUDNET" complete "$EXAMPLES/pip-berlin.yaml"
expect "complete an underlay" 1
expect_has "complete an underlay" err "only overlays"

run "$CLOUDNET" complete bad.yaml
expect "complete an invalid document" 1
expect_has "complete an invalid document" err "bad.yaml:7:22: "

run "$CLOUDNET" complete good.yaml bad.yaml
expect "complete two files" 2

run "$CLOUDNET" complete -o no/such/dir/out.yaml good.yaml
expect "complete into a missing directory" 1

# ---- dot ----

run "$CLOUDNET" dot "$EXAMPLES/webshop.yaml"
expect "dot overlay" 0
expect_has "dot overlay" out 'graph "webshop" {'
expect_has "dot overlay" out '"web1" -- "db" [label="web1-db\nbandwidth 100 Mbit/s\nlatency <= 10 ms"];'
cp "$TMP/out" "$TMP/first.dot"
run "$CLOUDNET" dot "$EXAMPLES/webshop.yaml"
if cmp -s "$TMP/out" "$TMP/first.dot"; then
    pass "dot is deterministic"
else
    fail "dot is deterministic"
fi

run "$CLOUDNET" dot "$EXAMPLES/webshop-on-berlin.yaml" --underlay "$EXAMPLES/pip-berlin.yaml"
expect "dot mapping on underlay" 0
expect_has "dot mapping on underlay" out "subgraph cluster_0 {"
expect_has "dot mapping on underlay" out '"o:db" [shape=ellipse'

run "$CLOUDNET" dot "$EXAMPLES/webshop.yaml" --underlay "$EXAMPLES/pip-berlin.yaml"
expect "dot --underlay with an overlay" 1

run "$CLOUDNET" dot "$EXAMPLES/webshop-on-berlin.yaml" --underlay bad.yaml
expect "dot on an invalid underlay" 1
expect_has "dot on an invalid underlay" err "bad.yaml:7:22: "

run "$CLOUDNET" dot a.yaml b.yaml
expect "dot two files" 2

run "$CLOUDNET" dot --svg
expect "dot --svg without argument" 2

run env PATH=/nonexistent "$CLOUDNET" dot "$EXAMPLES/webshop.yaml" --svg nographviz.svg
expect "dot --svg without graphviz" 1
expect_has "dot --svg without graphviz" err "graphviz"
if [ -e "$TMP/nographviz.svg" ]; then
    fail "dot --svg without graphviz (no output file)"
else
    pass "dot --svg without graphviz (no output file)"
fi

if command -v dot >/dev/null 2>&1; then
    run "$CLOUDNET" dot "$EXAMPLES/webshop-on-berlin.yaml" --underlay "$EXAMPLES/pip-berlin.yaml" \
        --svg mapping.svg
    expect "dot --svg" 0
    expect_empty "dot --svg" out
    if grep -q "<svg" "$TMP/mapping.svg" 2>/dev/null; then
        pass "dot --svg (an SVG file)"
    else
        fail "dot --svg (an SVG file)"
    fi
else
    echo "skip dot --svg: graphviz is not installed"
fi

# ---- map and check ----

for verb in map check; do
    run "$CLOUDNET" "$verb" --help
    expect "$verb --help" 0
    expect_has "$verb --help" out "Usage: cloudnet $verb"
    expect_has "$verb --help" out "Exit status"
    run "$CLOUDNET" "$verb" --no-such-option
    expect "$verb unknown option" 2
    expect_file "$verb unknown option" err \
        "cloudnet: $verb: unknown option '--no-such-option'; see 'cloudnet $verb --help'"
    run "$CLOUDNET" "$verb"
    expect "$verb without arguments" 2
done
run "$CLOUDNET" --help
expect_has "--help lists map" out "  map "
expect_has "--help lists check" out "  check "

run "$CLOUDNET" map --underlay "$EXAMPLES/pip-berlin.yaml" --overlay "$EXAMPLES/webshop.yaml" \
    -o webshop-map.yaml
expect "map webshop" 0
expect_empty "map webshop" out
run "$CLOUDNET" validate webshop-map.yaml
expect "the mapping is a valid document" 0
expect_has "the mapping is a valid document" out "mapping 'webshop', 8 entries"
run "$CLOUDNET" check --underlay "$EXAMPLES/pip-berlin.yaml" --overlay "$EXAMPLES/webshop.yaml" \
    webshop-map.yaml
expect "check the mapping" 0
expect_has "check the mapping" out "webshop-map.yaml: ok"
if grep -q "objective: {name: cost, value: 9, bound: 9, gap: 0," "$TMP/webshop-map.yaml"; then
    pass "map webshop (optimal cost 9)"
else
    fail "map webshop (optimal cost 9)" "$(cat "$TMP/webshop-map.yaml")"
fi

run "$CLOUDNET" map -u "$EXAMPLES/pip-berlin.yaml" -O "$EXAMPLES/vague.yaml" --objective load \
    --algorithm heuristic --time-limit 5 --gap 0.1
expect "map vague to stdout" 0
expect_has "map vague to stdout" out "kind: mapping"
expect_has "map vague to stdout" out "objective: {name: load,"
cp "$TMP/out" "$TMP/vague-map.yaml"
run "$CLOUDNET" check -u "$EXAMPLES/pip-berlin.yaml" -O "$EXAMPLES/vague.yaml" -q vague-map.yaml
expect "check vague mapping" 0
expect_empty "check vague mapping" out

# A second webshop next to the first, checked against it.
run "$CLOUDNET" map -u "$EXAMPLES/pip-berlin.yaml" -O "$EXAMPLES/webshop.yaml" \
    --existing webshop-map.yaml -o second.yaml
expect "map next to an existing mapping" 0
run "$CLOUDNET" check -u "$EXAMPLES/pip-berlin.yaml" -O "$EXAMPLES/webshop.yaml" \
    -e webshop-map.yaml second.yaml
expect "check next to an existing mapping" 0

printf '%s\n' 'rdl: 1' 'kind: overlay' 'name: big' 'elements:' \
    '  a: {type: /node/host/generic, resources: {cpu: 12}}' \
    '  b: {type: /node/host/generic, resources: {cpu: 12}}' >"$TMP/big.yaml"
# Two servers per request: the six x86_64 servers hold three, not four.
run "$CLOUDNET" map -u "$EXAMPLES/pip-berlin.yaml" -O big.yaml -o big1.yaml
expect "map big once" 0
run "$CLOUDNET" map -u "$EXAMPLES/pip-berlin.yaml" -O big.yaml -e big1.yaml -o big2.yaml
expect "map big twice" 0
run "$CLOUDNET" map -u "$EXAMPLES/pip-berlin.yaml" -O big.yaml -e big1.yaml -e big2.yaml \
    -o big3.yaml
expect "map big three times" 0
run "$CLOUDNET" map -u "$EXAMPLES/pip-berlin.yaml" -O big.yaml -e big1.yaml -e big2.yaml \
    -e big3.yaml -o never-map.yaml
expect "map into a full underlay" 1
expect_file "map into a full underlay" err \
    "no underlay node can host 'a': needs cpu 12, the largest free capacity is 8"
if [ -e "$TMP/never-map.yaml" ]; then
    fail "map into a full underlay (no output file)"
else
    pass "map into a full underlay (no output file)"
fi

printf '%s\n' 'rdl: 1' 'kind: overlay' 'name: arm' 'elements:' \
    '  a: {type: /node/host/generic, resources: {cpu: 8}, features: {arch: aarch64}}' \
    '  b: {type: /node/host/generic, resources: {cpu: 8}, features: {arch: aarch64}}' \
    '  c: {type: /node/host/generic, resources: {cpu: 8}, features: {arch: aarch64}}' >"$TMP/arm.yaml"
run "$CLOUDNET" map -u "$EXAMPLES/pip-berlin.yaml" -O arm.yaml -o never-map.yaml
expect "map an infeasible request" 1
expect_file "map an infeasible request" err \
    "infeasible: no mapping of 'arm' onto 'pip-berlin' meets every capacity, latency and placement constraint"
if [ -e "$TMP/never-map.yaml" ]; then
    fail "map an infeasible request (no output file)"
else
    pass "map an infeasible request (no output file)"
fi

run "$CLOUDNET" map -u "$EXAMPLES/pip-berlin.yaml" -O big.yaml -e big1.yaml -e big1.yaml \
    -o never-map.yaml
expect "map next to overfull existing mappings" 1
expect_file "map next to overfull existing mappings" err \
    "big1.yaml: existing mappings use cpu 24 on 'h1', more than its capacity 16"

run "$CLOUDNET" map -u "$EXAMPLES/pip-berlin.yaml" -O "$EXAMPLES/spanning.yaml" -o never-map.yaml
expect "map spanning on one PIP" 1
expect_file "map spanning on one PIP" err \
    "no underlay node can host 'front-fr': none offers location FR"
if [ -e "$TMP/never-map.yaml" ]; then
    fail "map spanning on one PIP (no output file)"
else
    pass "map spanning on one PIP (no output file)"
fi

run "$CLOUDNET" map -u "$EXAMPLES/pip-berlin.yaml" -O bad.yaml -o never-map.yaml
expect "map an invalid overlay" 1
expect_has "map an invalid overlay" err "bad.yaml:7:22: resource 'cpu' must not be negative"
if [ -e "$TMP/never-map.yaml" ]; then
    fail "map an invalid overlay (no output file)"
else
    pass "map an invalid overlay (no output file)"
fi

run "$CLOUDNET" map -u bad.yaml -O "$EXAMPLES/webshop.yaml"
expect "map on an invalid underlay" 1
expect_has "map on an invalid underlay" err "bad.yaml:7:22: "

run "$CLOUDNET" map -u "$EXAMPLES/webshop.yaml" -O "$EXAMPLES/webshop.yaml"
expect "map on an overlay" 1
expect_has "map on an overlay" err "--underlay needs an underlay document"

run "$CLOUDNET" map -u "$EXAMPLES/pip-berlin.yaml" -O "$EXAMPLES/webshop.yaml" --objective fast
expect "map with an unknown objective" 2
run "$CLOUDNET" map -u "$EXAMPLES/pip-berlin.yaml" -O "$EXAMPLES/webshop.yaml" --time-limit -1
expect "map with a negative time limit" 2
run "$CLOUDNET" map -u "$EXAMPLES/pip-berlin.yaml" -O "$EXAMPLES/webshop.yaml" \
    -o no/such/dir/map.yaml
expect "map into a missing directory" 1

sed 's/lb: {to: h1,/lb: {to: h7,/' "$TMP/webshop-map.yaml" >"$TMP/wrong-map.yaml"
run "$CLOUDNET" check -u "$EXAMPLES/pip-berlin.yaml" -O "$EXAMPLES/webshop.yaml" wrong-map.yaml
expect "check a wrong mapping" 1
expect_has "check a wrong mapping" err \
    "wrong-map.yaml: node 'lb': host 'h7' does not offer its final arch"

finish
