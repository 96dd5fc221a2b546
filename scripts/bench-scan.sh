#!/usr/bin/env bash
# bench-scan.sh: measure `minerguard scan` on a busy process table.
#
# Starts 320 idle processes (sleep 600) and a few fake miners talking to a
# fake pool on loopback, then times the whole command with hyperfine (or a
# date +%s%N loop when hyperfine is missing) for --sample 0 and --sample 1s,
# and measures peak RSS with /usr/bin/time -v. Everything it starts is
# killed on exit. Run as root from the repository root:
#
#   scripts/bench-scan.sh            # IDLE=320 MINERS=3 RUNS=10
#
# Targets (docs/benchmarks.md): <= 0.5 s with --sample 0, <= 1.5 s with
# --sample 1s, < 60 MB peak RSS.
set -euo pipefail

IDLE=${IDLE:-320}
MINERS=${MINERS:-3}
RUNS=${RUNS:-10}
PORT=${PORT:-3333}

cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/mg-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "building minerguard, fakeminer and fakepoold into $work"
CGO_ENABLED=0 go build -o "$work/minerguard" ./cmd/minerguard
CGO_ENABLED=0 go build -o "$work/fakeminer" ./internal/testkit/fakeminer
CGO_ENABLED=0 go build -o "$work/fakepoold" ./internal/testkit/fakepoold

"$work/fakepoold" -l "127.0.0.1:$PORT" >/dev/null &
pids+=($!)
sleep 0.3

echo "starting $IDLE idle processes and $MINERS fake miners"
for _ in $(seq "$IDLE"); do
	sleep 600 &
	pids+=($!)
done
for i in $(seq "$MINERS"); do
	cp "$work/fakeminer" "$work/kworker$i"
	(exec -a "[kworker/$i:1]" "$work/kworker$i" --comm "kworker/$i:1" -o "127.0.0.1:$PORT" \
		-u "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge" \
		--threads 1 --max-runtime 10m >/dev/null 2>&1) &
	pids+=($!)
done
sleep 2

nproc_total=$(ls -d /proc/[0-9]* | wc -l)
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r), $nproc_total processes"
echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"

# stdout is discarded by hyperfine and below (--output /dev/null fails: fsync of a device).
mg="$work/minerguard scan --format json --fail-on none"
if command -v hyperfine >/dev/null; then
	hyperfine --warmup 2 --runs "$RUNS" --export-markdown "$work/hyperfine.md" \
		-n "scan --sample 0" "$mg --sample 0" \
		-n "scan --sample 1s" "$mg --sample 1s"
	cat "$work/hyperfine.md"
else
	for s in 0 1s; do
		total=0
		for _ in $(seq "$RUNS"); do
			t0=$(date +%s%N)
			$mg --sample "$s" >/dev/null
			t1=$(date +%s%N)
			total=$((total + t1 - t0))
		done
		echo "scan --sample $s: mean $((total / RUNS / 1000000)) ms over $RUNS runs"
	done
fi

for s in 0 1s; do
	rss=$(/usr/bin/time -v $mg --sample "$s" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {print $2}')
	echo "scan --sample $s: peak RSS $((rss / 1024)) MB ($rss kB)"
done
