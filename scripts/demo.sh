#!/bin/sh
# The demo, first stage: validates every example, completes the vague
# request, and draws the substrates, the requests and the example mapping
# as SVG files under .scratch/demo/. Prints what it made.
set -eu

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CLOUDNET=$BUILD/bin/cloudnet
OUT=.scratch/demo

if [ ! -x "$CLOUDNET" ]; then
    echo "demo: $CLOUDNET is missing; run 'make' first" >&2
    exit 1
fi
mkdir -p "$OUT"

echo "== validating the examples"
"$CLOUDNET" validate examples/*.yaml

echo "== completing examples/vague.yaml (OL0 -> OL1)"
"$CLOUDNET" complete -o "$OUT/vague-completed.yaml" examples/vague.yaml
echo "$OUT/vague-completed.yaml"

echo "== drawing"
if ! command -v dot >/dev/null 2>&1; then
    echo "demo: Graphviz's dot is not installed; writing DOT files instead of SVG" >&2
    for f in examples/*.yaml; do
        name=$(basename "$f" .yaml)
        case $name in *-on-*) continue ;; esac
        "$CLOUDNET" dot "$f" >"$OUT/$name.dot"
        echo "$OUT/$name.dot"
    done
    exit 0
fi
for f in examples/*.yaml; do
    name=$(basename "$f" .yaml)
    # Mappings are drawn on their substrate below.
    case $name in *-on-*) continue ;; esac
    "$CLOUDNET" dot "$f" --svg "$OUT/$name.svg"
    echo "$OUT/$name.svg"
done
"$CLOUDNET" dot "$OUT/vague-completed.yaml" --svg "$OUT/vague-completed.svg"
echo "$OUT/vague-completed.svg"
"$CLOUDNET" dot examples/webshop-on-berlin.yaml --underlay examples/pip-berlin.yaml \
    --svg "$OUT/webshop-on-berlin.svg"
echo "$OUT/webshop-on-berlin.svg"
