#!/bin/sh
# Runs the online VNE comparison: generates the WX100 workloads (seeds and
# arrival rates below), replays each with every algorithm, prints a table of
# means over seeds and writes one acceptance-over-time SVG per rate.
#
#   bench/vne-run.sh [-o DIR] [-s SEEDS] [-r RATES] [-a ALGORITHMS] [-t SECONDS] [-j JOBS]
#
# Defaults: DIR=$BUILD/vne-bench, SEEDS="0 1 2 3 4 5 6 7 8 9", RATES="0.14 0.16",
# ALGORITHMS="heuristic grc mip-cost mip-load mip-energy", a MIP time limit of
# 1 s per request, and as many parallel runs as there are cores. BUILD (default
# build) names the build tree the benchmark is built in and run from.
set -eu

BUILD=${BUILD:-build}
out=$BUILD/vne-bench
seeds="0 1 2 3 4 5 6 7 8 9"
rates="0.14 0.16"
algs="heuristic grc mip-cost mip-load mip-energy"
tlim=1
jobs=$(nproc 2>/dev/null || echo 2)
while getopts o:s:r:a:t:j:h opt; do
    case $opt in
    o) out=$OPTARG ;;
    s) seeds=$OPTARG ;;
    r) rates=$OPTARG ;;
    a) algs=$OPTARG ;;
    t) tlim=$OPTARG ;;
    j) jobs=$OPTARG ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
# The whole tree when it builds; the benchmark alone otherwise.
make -s BUILD="$BUILD" bench-build >/dev/null 2>&1 || make -s BUILD="$BUILD" "$BUILD/bench/vne"
vne=$(pwd)/$BUILD/bench/vne
mkdir -p "$out/work" "$out/res"

for r in $rates; do
    for s in $seeds; do
        f=$out/work/wx100-r$r-s$s.json
        [ -f "$f" ] || "$vne" gen --seed "$s" --eta "$r" -o "$f" 2>/dev/null
    done
done

# One line per run: ALG RATE SEED; each writes its metrics line and trace.
list=$out/work/runs.txt
: >"$list"
for a in $algs; do
    for r in $rates; do
        for s in $seeds; do
            echo "$a $r $s" >>"$list"
        done
    done
done
export vne out tlim
xargs -P "$jobs" -L 1 sh -c '
    "$vne" run -a "$0" --time-limit "$tlim" --trace "$out/res/$0-r$1-s$2.tr" \
        "$out/work/wx100-r$1-s$2.json" >"$out/res/$0-r$1-s$2.txt"' <"$list"

printf "%-11s %5s %5s %7s %7s %9s %9s %9s %8s\n" algorithm rate seeds RAC LRC mean_ms p50_ms p99_ms optimal
for r in $rates; do
    for a in $algs; do
        cat "$out"/res/"$a"-r"$r"-s*.txt 2>/dev/null | awk -v a="$a" -v r="$r" '
            function val(k,   i, kv) {
                for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] }
                return 0
            }
            /^alg=/ { n++; rac += val("rac"); lrc += val("lrc"); mean += val("mean_ms");
                      p50 += val("p50_ms"); p99 += val("p99_ms");
                      opt += val("optimal"); acc += val("accepted") }
            END { if (n) printf "%-11s %5s %5d %7.4f %7.4f %9.2f %9.2f %9.2f %7.1f%%\n",
                      a, r, n, rac / n, lrc / n, mean / n, p50 / n, p99 / n,
                      acc ? 100 * opt / acc : 0 }'
    done
done

for r in $rates; do
    set --
    for a in $algs; do
        set -- "$@" --series "$a" $(ls "$out"/res/"$a"-r"$r"-s*.tr 2>/dev/null)
    done
    svg=$out/vne-acceptance-r$r.svg
    "$vne" plot -o "$svg" --title "WX100, arrival rate $r: acceptance ratio (mean over seeds)" "$@"
    echo "plot: $svg"
done
