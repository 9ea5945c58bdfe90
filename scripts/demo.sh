#!/bin/sh
# The demo: validates every example, completes the vague request, maps the
# webshop request onto the Berlin substrate with the MIP (checking the result
# independently) and draws the substrates, the requests and the mappings as
# SVG files under .scratch/demo/. Prints what it made.
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

echo "== mapping examples/webshop.yaml onto examples/pip-berlin.yaml (MIP, cost)"
"$CLOUDNET" map --underlay examples/pip-berlin.yaml --overlay examples/webshop.yaml \
    --objective cost -o "$OUT/webshop-map.yaml"
"$CLOUDNET" check --underlay examples/pip-berlin.yaml --overlay examples/webshop.yaml \
    "$OUT/webshop-map.yaml"
sed -n '/^objective/p;/^map:/,$p' "$OUT/webshop-map.yaml"
echo "== mapping it again next to the first (load objective)"
"$CLOUDNET" map --underlay examples/pip-berlin.yaml --overlay examples/webshop.yaml \
    --existing "$OUT/webshop-map.yaml" --objective load -o "$OUT/webshop-map-2.yaml"
sed -n '/^objective/p' "$OUT/webshop-map-2.yaml"

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
for m in webshop-map webshop-map-2; do
    "$CLOUDNET" dot "$OUT/$m.yaml" --underlay examples/pip-berlin.yaml --svg "$OUT/$m.svg"
    echo "$OUT/$m.svg"
done
