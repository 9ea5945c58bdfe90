# The pass/fail bookkeeping of the shell tests, sourced by each of them
# (tests/*.sh): one line per case ("ok   NAME" or "FAIL NAME" with indented
# details) and the summary line "N passed, N failed" that tests/run-tests.sh
# adds up.
#
# Two ways to state a case. For commands whose output is looked at
# afterwards: check, refuse, equal, has. For black-box runs of one program:
# run, then expect (the exit status) and expect_file, expect_has,
# expect_lacks, expect_empty (its output). Both keep what they ran in files
# under $TMP, a scratch directory the test makes before its first case:
# $TMP/out (check, refuse: stdout and stderr together; run: stdout) and
# $TMP/err (run: stderr).
#
# TEST_NAME, the test's name in messages, defaults to the script's name.
# POSIX sh: the tests run under dash.

TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}
passed=0
failed=0

# pass NAME: counts a case that passed.
pass() {
    passed=$((passed + 1))
    printf 'ok   %s\n' "$1"
}

# fail NAME [DETAIL...]: counts a case that failed; each DETAIL is printed
# on a line of its own, indented. Messages go out with printf: dash's echo
# would expand backslashes in them.
fail() {
    failed=$((failed + 1))
    printf 'FAIL %s\n' "$1"
    shift
    for line in "$@"; do
        printf '  %s\n' "$line"
    done
}

# indent [FILE]: FILE's lines (or standard input's), indented as failure
# details.
indent() {
    sed 's/^/  /' "$@"
}

# finish: prints the summary line and exits, non-zero when a case failed.
finish() {
    printf '%d passed, %d failed\n' "$passed" "$failed"
    [ "$failed" -eq 0 ]
    exit
}

# give_up REASON: the test cannot go on; REASON counts as one more failure.
give_up() {
    printf '%s: %s\n' "$TEST_NAME" "$1"
    failed=$((failed + 1))
    finish
}

# need_root: gives up unless the test runs as root.
need_root() {
    [ "$(id -u)" -eq 0 ] || give_up "needs root (network namespaces)"
}

# need_built FILE...: gives up unless every FILE is an executable.
need_built() {
    for nb_f in "$@"; do
        [ -x "$nb_f" ] || give_up "$nb_f is not built"
    done
}

# on_exit FUNCTION [KEEP]: runs FUNCTION when the test exits, unless KEEP
# is not empty (a debug variable: everything is kept for inspection); an
# interrupt exits, so FUNCTION runs then too.
on_exit() {
    # shellcheck disable=SC2064 # FUNCTION is a name, expanded now on purpose
    [ -n "${2:-}" ] || trap "$1" EXIT
    trap 'exit 1' INT TERM
}

# ---- cases on commands ----

# check NAME COMMAND...: passes when the command succeeds.
check() {
    c_name=$1
    shift
    if "$@" >"$TMP/out" 2>&1; then
        pass "$c_name"
    else
        fail "$c_name"
        indent "$TMP/out"
    fi
}

# refuse NAME COMMAND...: passes when the command fails.
refuse() {
    c_name=$1
    shift
    if "$@" >"$TMP/out" 2>&1; then
        fail "$c_name"
        indent "$TMP/out"
    else
        pass "$c_name"
    fi
}

# equal NAME GOT EXPECTED
equal() {
    if [ "$2" = "$3" ]; then
        pass "$1"
    else
        fail "$1 (got '$2', expected '$3')"
    fi
}

# has NAME FILE PATTERN: passes when a line of FILE matches (grep -E).
has() {
    if grep -qE -- "$3" "$2"; then
        pass "$1"
    else
        fail "$1 (no '$3' in:)"
        indent "$2"
    fi
}

# ---- black-box runs ----

# run COMMAND...: runs in $TMP, keeping the status in $rc and the output in
# $TMP/out and $TMP/err.
run() {
    (cd "$TMP" && "$@") >"$TMP/out" 2>"$TMP/err"
    rc=$?
}

# expect NAME STATUS: the last run exited with STATUS.
expect() {
    if [ "$rc" -eq "$2" ]; then
        pass "$1 (exit $2)"
    else
        fail "$1 (exit $2)" "exit status $rc" "stdout: $(head -c 400 "$TMP/out")" \
            "stderr: $(head -c 600 "$TMP/err")"
    fi
}

# expect_file NAME WHICH EXPECTED: the last run's out or err is exactly
# EXPECTED (plus a newline).
expect_file() {
    printf '%s\n' "$3" >"$TMP/expected"
    if cmp -s "$TMP/expected" "$TMP/$2"; then
        pass "$1 ($2)"
    else
        fail "$1 ($2)" "expected:" "$(cat "$TMP/expected")" "got:" "$(cat "$TMP/$2")"
    fi
}

# expect_has NAME WHICH TEXT: the last run's out or err contains TEXT.
expect_has() {
    if grep -qF -- "$3" "$TMP/$2"; then
        pass "$1 ($2 has '$3')"
    else
        fail "$1 ($2 has '$3')" "got: $(head -c 600 "$TMP/$2")"
    fi
}

# expect_lacks NAME WHICH TEXT: the last run's out or err does not contain TEXT.
expect_lacks() {
    if grep -qF -- "$3" "$TMP/$2"; then
        fail "$1 ($2 lacks '$3')" "got: $(head -c 600 "$TMP/$2")"
    else
        pass "$1 ($2 lacks '$3')"
    fi
}

# expect_empty NAME WHICH: the last run's out or err is empty.
expect_empty() {
    if [ ! -s "$TMP/$2" ]; then
        pass "$1 ($2 empty)"
    else
        fail "$1 ($2 empty)" "got: $(head -c 600 "$TMP/$2")"
    fi
}
