#!/usr/bin/env bash
# bench-blocklist.sh: time `minerguard blocklist` exporting a generated
# feed of N domains (default 1,000,000) and N/10 addresses in every format,
# as whole commands, with /usr/bin/time (wall, user, sys, peak RSS).
# Run from the repository root:
#
#   scripts/bench-blocklist.sh          # N=1000000
#
# Target (docs/benchmarks-intel.md): under 5 s per format.
set -euo pipefail

N=${N:-1000000}
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/mg-blbench.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

CGO_ENABLED=0 go build -o "$work/minerguard" ./cmd/minerguard
go run ./scripts/genfeed -n "$N" > "$work/feed.txt"
echo "feed: $(wc -l < "$work/feed.txt") lines, $(du -h "$work/feed.txt" | cut -f1)"
formats=$("$work/minerguard" blocklist --help | awk '/^Formats:/{f=1;next} f&&/^  [a-z]/{print $1} f&&/^$/{exit}')
for f in $formats; do
	/usr/bin/time -f "$f	%e s wall	%U s user	%S s sys	%M KB" \
		"$work/minerguard" blocklist --state-dir "$work/none" --add "$work/feed.txt" --format "$f" -o "$work/out.$f" 2>&1 | tail -1
done
