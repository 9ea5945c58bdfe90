#!/bin/sh
# Black-box tests of `cloudnet rebalance` (and `cloudnet map --previous`):
# the moves table and totals, the mappings written with -o and checked by
# `cloudnet check` against each other, targets out of reach, and usage and
# document errors (nothing written). Prints one line per check and
# "N passed, N failed" last; exits non-zero when any check failed.
#
# BUILD (set by tests/run-tests.sh) names the build tree; TEST_SRCDIR the
# tests/ folder of the source tree.
set -u

BUILD=${BUILD:-build}
SRC=${TEST_SRCDIR:-$(pwd)/tests}
CLOUDNET=${CLOUDNET:-$BUILD/bin/cloudnet}
case $CLOUDNET in /*) ;; *) CLOUDNET=$(pwd)/$CLOUDNET ;; esac
case $SRC in /*) ;; *) SRC=$(pwd)/$SRC ;; esac
D=$SRC/rebalance

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rebalance_test.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM

. "$SRC/lib/check.sh"

# expect_grep NAME WHICH TEXT: out or err contains the fixed string TEXT.
expect_grep() {
    if grep -qF -- "$3" "$TMP/$2"; then
        pass "$1 ($2)"
    else
        fail "$1 ($2)" "no '$3' in:" "$(head -c 600 "$TMP/$2")"
    fi
}

C1="$D/app1.yaml:$D/app1-on-ring.yaml"
C2="$D/app2.yaml:$D/app2-on-ring.yaml"

# Half of the four hosts: b joins a on h1 (a's migration_cost is 10), c joins d.
mkdir "$TMP/half"
run "$CLOUDNET" rebalance -u "$D/ring.yaml" -c "$C1" -c "$C2" --free 50 -o "$TMP/half"
expect "free 50%" 0
expect_file "free 50%: moves and hosts" out "CLOUDNET  ELEMENT  FROM  TO  COST
app1      b        h2    h1  1
app2      c        h3    h4  1
total move cost: 2 (2 moves)
hosts: 4, in use before 4, after 2; empty now: 2 (50.0%)
target: free 50% (at most 2 in use): met"
for n in app1 app2; do
    if [ -s "$TMP/half/$n.yaml" ]; then pass "free 50%: $n.yaml written"; else fail "free 50%: $n.yaml written"; fi
done
run "$CLOUDNET" check -q -u "$D/ring.yaml" -O "$D/app1.yaml" -e "$TMP/half/app2.yaml" "$TMP/half/app1.yaml"
expect "free 50%: app1's new mapping checks next to app2's" 0
run "$CLOUDNET" check -q -u "$D/ring.yaml" -O "$D/app2.yaml" -e "$TMP/half/app1.yaml" "$TMP/half/app2.yaml"
expect "free 50%: app2's new mapping checks next to app1's" 0
# Every VNode in half/ sits on h1 or h4.
hosts=$(grep -ho 'to: h[0-9]' "$TMP/half/app1.yaml" "$TMP/half/app2.yaml" | sort -u | tr '\n' ' ')
if [ "$hosts" = "to: h1 to: h4 " ]; then pass "free 50%: only h1 and h4 in use"; else fail "free 50%: only h1 and h4 in use" "got: $hosts"; fi

# A move price of 3 (a keeps its own 10).
run "$CLOUDNET" rebalance -u "$D/ring.yaml" -c "$C1" -c "$C2" --free 50% --move-cost 3
expect "free 50% at 3 per move" 0
expect_grep "free 50% at 3 per move" out "total move cost: 6 (2 moves)"

# Nothing to free: nothing moves.
run "$CLOUDNET" rebalance -u "$D/ring.yaml" -c "$C1" -c "$C2" --free 0
expect "free 0%" 0
expect_grep "free 0%" out "no moves"

# Three of four hosts: 6 cpu do not fit on one host of 4.
mkdir "$TMP/most"
run "$CLOUDNET" rebalance -u "$D/ring.yaml" -c "$C1" -c "$C2" --free 75 -o "$TMP/most"
expect "free 75%" 1
expect_file "free 75%" err "cannot free 75% of 4 hosts: at most 2 (50.0%) can be emptied"
if [ -z "$(ls "$TMP/most")" ]; then pass "free 75%: nothing written"; else fail "free 75%: nothing written"; fi

# app1 alone may free 3 hosts: both of its nodes on one host.
run "$CLOUDNET" rebalance -u "$D/ring.yaml" -c "$C1" --free 75
expect "app1 alone, free 75%" 0
expect_grep "app1 alone, free 75%" out "hosts: 4, in use before 2, after 1; empty now: 3 (75.0%)"

# Next to app2 left where it is (its hosts count as in use), app1 moves onto them.
run "$CLOUDNET" rebalance -u "$D/ring.yaml" -c "$C1" -e "$D/app2-on-ring.yaml" --free 50 -o "$TMP"
expect "app1 next to app2 staying, free 50%" 0
expect_grep "app1 next to app2 staying, free 50%" out "total move cost: 11 (2 moves)"
run "$CLOUDNET" check -q -u "$D/ring.yaml" -O "$D/app1.yaml" -e "$D/app2-on-ring.yaml" "$TMP/app1.yaml"
expect "app1 next to app2 staying: the mapping checks" 0
run "$CLOUDNET" rebalance -u "$D/ring.yaml" -c "$C1" -e "$D/app2-on-ring.yaml" --free 75
expect "app1 next to app2 staying, free 75%" 1
expect_file "app1 next to app2 staying, free 75%" err "cannot free 75% of 4 hosts: at most 2 (50.0%) can be emptied"

# Documents that do not belong together.
run "$CLOUDNET" rebalance -u "$D/ring.yaml" -c "$D/app1.yaml:$D/app2-on-ring.yaml" --free 50
expect "mapping of another overlay" 1
expect_grep "mapping of another overlay" err "is of overlay 'app2', not of 'app1'"
run "$CLOUDNET" rebalance -u "$D/ring.yaml" -c "$D/app1-on-ring.yaml:$D/app1-on-ring.yaml" --free 50
expect "overlay that is a mapping" 1
expect_grep "overlay that is a mapping" err "--cloudnet OL needs an overlay document, this is an mapping"

run "$CLOUDNET" rebalance -u "$D/ring.yaml" -c "$C1" -c "$C1" --free 50
expect "one CloudNet twice" 1
expect_file "one CloudNet twice" err "two CloudNets are named 'app1'"

# Usage errors.
run "$CLOUDNET" rebalance -u "$D/ring.yaml" -c "$C1"
expect "no --free" 2
run "$CLOUDNET" rebalance -u "$D/ring.yaml" -c "$D/app1.yaml" --free 50
expect "--cloudnet without a mapping" 2
expect_grep "--cloudnet without a mapping" err "--cloudnet needs OVERLAY:MAPPING"
run "$CLOUDNET" rebalance -u "$D/ring.yaml" -c "$C1" --free 120
expect "--free beyond 100" 2
run "$CLOUDNET" rebalance -u "$D/ring.yaml" -c "$C1" --free 50 --move-cost -1
expect "negative --move-cost" 2
run "$CLOUDNET" rebalance --help
expect "--help" 0
expect_grep "--help" out "Usage: cloudnet rebalance"

# map --previous: app1 grows b to 3 cpu; pinned (the default), it stays on h2.
sed 's/b: {type: \/node\/host\/generic, resources: {cpu: 2}}/b: {type: \/node\/host\/generic, resources: {cpu: 3}}/' \
    "$D/app1.yaml" >"$TMP/app1-v2.yaml"
run "$CLOUDNET" map -u "$D/ring.yaml" -O "$TMP/app1-v2.yaml" --previous "$D/app1-on-ring.yaml" -o "$TMP/app1-v2-on-ring.yaml"
expect "map --previous" 0
run "$CLOUDNET" check -q -u "$D/ring.yaml" -O "$TMP/app1-v2.yaml" "$TMP/app1-v2-on-ring.yaml"
expect "map --previous: the mapping checks" 0
expect_grep "map --previous: b stays" app1-v2-on-ring.yaml "b: {to: h2, resources: {cpu: 3}}"
run "$CLOUDNET" map -u "$D/ring.yaml" -O "$D/app1.yaml" --move-cost 1
expect "map --move-cost without --previous" 2
# At 1 per move, b joins a on h1 (saving the link's hop); a's own price of 10 keeps it there.
run "$CLOUDNET" map -u "$D/ring.yaml" -O "$D/app1.yaml" -e "$D/app2-on-ring.yaml" --previous "$D/app1-on-ring.yaml" --move-cost 1
expect "map --previous --move-cost 1" 0
expect_grep "map --previous --move-cost 1: b joins a" out "b: {to: h1, resources: {cpu: 2}}"

printf '%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
