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

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cli_test.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

passed=0
failed=0

pass() {
    passed=$((passed + 1))
    printf 'ok   %s\n' "$1"
}

fail() {
    failed=$((failed + 1))
    printf 'FAIL %s\n' "$1"
    shift
    for line in "$@"; do
        printf '  %s\n' "$line"
    done
}

# Messages go out with printf: dash's echo would expand the \n of DOT labels.
# run CMD...: runs in $TMP, keeping the status in $rc and the output in $TMP/out, $TMP/err.
run() {
    (cd "$TMP" && "$@") >"$TMP/out" 2>"$TMP/err"
    rc=$?
}

# expect NAME STATUS: the last run exited with STATUS (never a signal).
expect() {
    if [ "$rc" -eq "$2" ]; then
        pass "$1 (exit $2)"
    else
        fail "$1 (exit $2)" "exit status $rc" "stderr: $(head -c 600 "$TMP/err")"
    fi
}

# expect_file NAME WHICH EXPECTED: out or err is exactly the text EXPECTED (plus a newline).
expect_file() {
    printf '%s\n' "$3" >"$TMP/expected"
    if cmp -s "$TMP/expected" "$TMP/$2"; then
        pass "$1 ($2)"
    else
        fail "$1 ($2)" "expected:" "$(cat "$TMP/expected")" "got:" "$(cat "$TMP/$2")"
    fi
}

# expect_has NAME WHICH TEXT: out or err contains TEXT.
expect_has() {
    if grep -qF -- "$3" "$TMP/$2"; then
        pass "$1 ($2 has '$3')"
    else
        fail "$1 ($2 has '$3')" "got: $(head -c 600 "$TMP/$2")"
    fi
}

expect_empty() {
    if [ ! -s "$TMP/$2" ]; then
        pass "$1 ($2 empty)"
    else
        fail "$1 ($2 empty)" "got: $(head -c 600 "$TMP/$2")"
    fi
}

if [ ! -x "$CLOUDNET" ]; then
    fail "cloudnet is built" "$CLOUDNET is missing"
    echo "$passed passed, $failed failed"
    exit 1
fi

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

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
