#!/bin/sh
# Runs every test program given as an argument, shows its output, and adds
# up the "N passed, N failed" summary lines into one final line. Exits
# non-zero when any test failed, crashed or printed no summary.
set -u
total_pass=0
total_fail=0
status=0
TEST_SRCDIR=${TEST_SRCDIR:-$(pwd)/tests}
export TEST_SRCDIR
for t in "$@"; do
    echo "== $t"
    out=$(mktemp)
    "$t" >"$out" 2>&1
    rc=$?
    cat "$out"
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
    rm -f "$out"
    if [ -z "$summary" ]; then
        echo "$t: exited $rc without a summary line"
        total_fail=$((total_fail + 1))
        status=1
        continue
    fi
    p=$(echo "$summary" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$summary" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "$t: exited $rc although every case passed"
        total_fail=$((total_fail + 1))
    fi
    [ "$rc" -ne 0 ] && status=1
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] || status=1
exit $status
