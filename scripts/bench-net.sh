#!/usr/bin/env bash
# bench-net.sh: `minerguard net pcap` against tshark with a Stratum display
# filter, and `minerguard net logs` against `grep -F -f POOLLIST`, on the
# same generated inputs in one run, alternating, RUNS times each; then
# peak RSS of both net commands on a small and a large input
# (docs/benchmarks-net.md).
#
#   apt-get install -y tshark time
#   scripts/bench-net.sh        # SIZE=1G SMALL=100M LINES=10000000 SMALL_LINES=1000000 RUNS=3
#
# Inputs are generated under $WORK (default /tmp/mg-netbench) and kept for
# reruns (delete the directory to regenerate); nothing large is committed.
set -euo pipefail

SIZE=${SIZE:-1G}
SMALL=${SMALL:-100M}
LINES=${LINES:-10000000}
SMALL_LINES=${SMALL_LINES:-1000000}
RUNS=${RUNS:-3}
WORK=${WORK:-/tmp/mg-netbench}

cd "$(dirname "$0")/.."
command -v tshark >/dev/null || { echo "tshark is not installed (apt-get install -y tshark)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is not installed (apt-get install -y time)" >&2; exit 1; }
mkdir -p "$WORK"
export CGO_ENABLED=0
go build -o "$WORK/minerguard" ./cmd/minerguard
go build -o "$WORK/genpcap" ./scripts/genpcap
go build -o "$WORK/gendnslog" ./scripts/gendnslog
mg=$WORK/minerguard

big=$WORK/mixed-$SIZE.pcap
small=$WORK/mixed-$SMALL.pcap
log=$WORK/dnsmasq-$LINES.log
slog=$WORK/dnsmasq-$SMALL_LINES.log
[ -s "$big" ] || "$WORK/genpcap" -o "$big" -size "$SIZE" -seed 1 -manifest "$big.json"
[ -s "$small" ] || "$WORK/genpcap" -o "$small" -size "$SMALL" -seed 1 -manifest "$small.json"
[ -s "$log" ] || "$WORK/gendnslog" -o "$log" -lines "$LINES" -seed 1 -manifest "$log.json"
[ -s "$slog" ] || "$WORK/gendnslog" -o "$slog" -lines "$SMALL_LINES" -seed 1 -manifest "$slog.json"
# The small log ten times over: as long as the large one, with the same
# clients and names, so the same findings as the small one.
rep=$WORK/dnsmasq-$SMALL_LINES-x10.log
[ -s "$rep" ] && [ "$rep" -nt "$slog" ] || for _ in 1 2 3 4 5 6 7 8 9 10; do cat "$slog"; done >"$rep"
"$mg" blocklist -f domains --state-dir "$WORK/no-overlay" >"$WORK/pools.txt"

# Stratum/XMRig/ETHPROXY JSON-RPC: a packet carrying one of the mining
# methods as a JSON string. `contains` is tshark's cheapest operator
# (a `matches` regular expression costs more); -T fields -e tcp.stream
# prints one short line per match, cheaper than the default summary.
FILTER='frame contains "\"mining." || frame contains "\"login\"" || frame contains "\"submit\"" || frame contains "\"job\"" || frame contains "\"keepalived\"" || frame contains "\"eth_submitLogin\"" || frame contains "\"eth_getWork\"" || frame contains "\"eth_submitWork\"" || frame contains "\"eth_submitHashrate\""'

res=$WORK/times.tsv
: >"$res"
# timed NAME CMD...: one run; wall, user, sys seconds and peak RSS KB to $res.
timed() {
	local name=$1
	shift
	/usr/bin/time -o "$WORK/t" -f "%e\t%U\t%S\t%M" "$@"
	printf '%s\t%s\n' "$name" "$(cat "$WORK/t")" >>"$res"
}

echo "== machine: $(nproc) CPUs, $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$RUNS"); do
	echo "== run $r/$RUNS"
	timed tshark tshark -r "$big" -Y "$FILTER" -T fields -e tcp.stream -e ip.src -e ipv6.src -e tcp.srcport >"$WORK/tshark.out" 2>/dev/null
	timed mg-pcap "$mg" net pcap "$big" -f json -o "$WORK/pcap.json" --fail-on none
	timed grep sh -c 'grep -F -f "$1" "$2" >"$3"' sh "$WORK/pools.txt" "$log" "$WORK/grep.out"
	timed mg-logs "$mg" net logs "$log" -f json -o "$WORK/logs.json" --fail-on none
done
for r in $(seq "$RUNS"); do
	timed rss-pcap-small "$mg" net pcap "$small" -f json -o "$WORK/pcap-small.json" --fail-on none
	timed rss-pcap-big "$mg" net pcap "$big" -f json -o /dev/null --fail-on none
	timed rss-logs-small "$mg" net logs "$slog" -f json -o "$WORK/logs-small.json" --fail-on none
	timed rss-logs-big "$mg" net logs "$log" -f json -o /dev/null --fail-on none
	timed rss-logs-small-x10 "$mg" net logs "$rep" -f json -o "$WORK/logs-x10.json" --fail-on none
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$WORK" "$big" "$log" <<'PY'
import json, statistics, sys, collections
work, big, log = sys.argv[1:4]
rows = collections.defaultdict(list)
for l in open(f"{work}/times.tsv"):
    n, e, u, s, m = l.split("\t")
    rows[n].append((float(e), float(u), float(s), int(m)))
med = {n: [statistics.median(x[i] for x in v) for i in range(4)] for n, v in rows.items()}
print("\n| command | runs | wall median (all) | user+sys median | peak RSS median |")
print("| --- | --- | --- | --- | --- |")
for n, v in rows.items():
    e, u, s, m = med[n]
    print(f"| {n} | {len(v)} | {e:.2f} s ({', '.join(f'{x[0]:.2f}' for x in v)}) | {u+s:.2f} s | {m/1024:.0f} MiB |")
for a, b in (("tshark", "mg-pcap"), ("grep", "mg-logs")):
    print(f"\n{a} / {b}: wall {med[a][0]/med[b][0]:.1f}x, CPU {(med[a][1]+med[a][2])/(med[b][1]+med[b][2]):.1f}x")

for n in ("logs-small", "logs-x10", "logs"):
    r = json.load(open(f"{work}/{n}.json"))
    print(f"{n}: {len(r['findings'])} findings")

# What each found.
man = json.load(open(big + ".json"))
planted = {(s["Client"].rsplit(":", 1)[0].strip("[]"), s["Dialect"]) for s in man["Sessions"]}
streams = collections.defaultdict(int)
for l in open(f"{work}/tshark.out"):
    f = l.rstrip("\n").split("\t")
    streams[f[0]] += 1
rep = json.load(open(f"{work}/pcap.json"))
st = [f for f in rep["findings"] if f["rule"] == "net.stratum"]
got = {(f["evidence"]["src_ip"], f["evidence"]["dialect"]) for f in st}
print(f"\npcap: {man['Packets']} packets, flows {man['Flows']}, {len(planted)} planted mining sessions")
print(f"tshark: {sum(streams.values())} matching packets in {len(streams)} TCP streams")
print(f"minerguard: {len(st)} net.stratum findings; planted found {len(got & planted)}/{len(planted)}, extra {len(got - planted)}; "
      f"other findings: {collections.Counter(f['rule'] for f in rep['findings'] if f['rule'] != 'net.stratum')}")

# grep's matches, judged with suffix semantics.
pools = [l.strip() for l in open(f"{work}/pools.txt") if l.strip()]
pset = set(pools)
def listed(n):
    n = n.lower().rstrip(".")
    while n:
        if n in pset:
            return True
        n = n.partition(".")[2]
    return False
kinds = collections.Counter()
for l in open(f"{work}/grep.out"):
    w = l.split()
    i = next((k for k, x in enumerate(w) if x.startswith("query[") or x in ("forwarded", "reply", "cached")), None)
    name = w[i + 1]
    q = w[i].startswith("query[")
    kinds[("query" if q else "resolver line") + (" of a pool domain or subdomain" if listed(name) else " of a near-miss name (false positive)")] += 1
lm = json.load(open(log + ".json"))
print(f"\nlog: {lm['Lines']} lines, {lm['Queries']} queries, {lm['PoolQueries']} pool queries ({lm['PoolMixedCase']} in mixed case), {lm['NearQueries']} near-miss queries")
print(f"grep -F: {sum(kinds.values())} lines: " + "; ".join(f"{v} {k}" for k, v in sorted(kinds.items())))
print(f"grep -F missed {lm['PoolQueries'] - sum(v for k, v in kinds.items() if k.startswith('query of a pool'))} pool queries (mixed case)")
rep = json.load(open(f"{work}/logs.json"))
pool = [f for f in rep["findings"] if f["rule"] == "net.dns_pool"]
kw = [f for f in rep["findings"] if f["rule"] == "net.dns_pool_keyword"]
print(f"minerguard: {sum(f['evidence']['packets'] for f in pool)} pool queries in {len(pool)} net.dns_pool findings "
      f"(client, name) from {len({f['evidence']['src_ip'] for f in pool})} clients; "
      f"{sum(f['evidence']['packets'] for f in kw)} lookups in {len(kw)} low-severity net.dns_pool_keyword hints")
PY
