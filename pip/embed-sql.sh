#!/bin/sh
# Turns the numbered schema scripts (schemas/pip-001.sql, pip-002.sql, ...)
# into a C file holding them as string literals, so pipd carries its schema
# and never reads the source tree at run time. Script N upgrades version N-1
# to version N; a gap in the numbering is an error, not a silent skip.
#
#   sh pip/embed-sql.sh schemas/pip-*.sql > schema-sql.c
set -eu

[ $# -gt 0 ] || { echo "embed-sql: no schema scripts given" >&2; exit 1; }

n=0
for f in "$@"; do
    n=$((n + 1))
    want=$(printf 'pip-%03d.sql' "$n")
    if [ "$(basename "$f")" != "$want" ]; then
        echo "embed-sql: expected $want, got $f (scripts must be numbered 1, 2, ... without gaps)" >&2
        exit 1
    fi
done

echo "/* Generated from schemas/pip-NNN.sql by pip/embed-sql.sh. Do not edit. */"
echo "#include <stddef.h>"
echo
echo "extern const char *const pip_schema_scripts[];"
echo "extern const size_t pip_schema_script_count;"
echo
echo "const char *const pip_schema_scripts[] = {"
for f in "$@"; do
    printf '    /* %s */\n' "$(basename "$f")"
    # Escape backslashes and quotes; keep line breaks so statements split on ";\n".
    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/' "$f"
    echo "    ,"
done
echo "};"
echo
echo "const size_t pip_schema_script_count = $n;"
