#!/usr/bin/env bash
# bench-signatures.sh: minerguard's signature scanner against YARA on the
# same corpus and the same patterns (docs/benchmarks-files.md).
#
# 1. Builds a corpus of SIZE_MB of real binaries and libraries copied from
#    /usr/bin and /usr/lib, plus three planted fake miners.
# 2. Writes intel's signatures, packer marks and daemon markers as YARA
#    rules (scripts/sigbench -yara; nocase where case_insensitive).
# 3. Times `yara -r -p J rules.yar corpus` and `sigbench -scan corpus -j J`
#    (sigscan.ScanFile on every file, J workers) RUNS times each, warm page
#    cache, best run reported; then `minerguard scan --root corpus
#    --paths / --checks files.suspicious` for the whole file check.
#
#   apt-get install -y yara
#   scripts/bench-signatures.sh          # SIZE_MB=200 J=2 RUNS=5
set -euo pipefail

SIZE_MB=${SIZE_MB:-200}
J=${J:-2}
RUNS=${RUNS:-5}

cd "$(dirname "$0")/.."
command -v yara >/dev/null || { echo "yara is not installed (apt-get install -y yara)" >&2; exit 1; }
work=$(mktemp -d /tmp/mg-sigbench.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
corpus=$work/corpus
mkdir -p "$corpus/bin" "$corpus/lib" "$corpus/tmp/.x"

go build -o "$work/sigbench" ./scripts/sigbench
CGO_ENABLED=0 go build -o "$work/minerguard" ./cmd/minerguard

# Real binaries, largest directories first, until SIZE_MB.
limit=$((SIZE_MB * 1024 * 1024))
total=0
n=0
while IFS= read -r -d '' f; do
	s=$(stat -c %s "$f")
	[ $((total + s)) -gt "$limit" ] && continue
	n=$((n + 1))
	case "$f" in /usr/bin/*) d=bin ;; *) d=lib ;; esac
	cp "$f" "$corpus/$d/$n-$(basename "$f")"
	total=$((total + s))
	[ "$total" -ge $((limit - 65536)) ] && break
done < <(find /usr/bin /usr/lib -type f -size +4k -size -64M -print0 2>/dev/null)

# Planted miners: an ELF header followed by the strings real XMRig builds carry.
plant() {
	{ printf '\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00'
	  head -c 300000 /dev/urandom
	  printf '%s\0' "$@"
	  head -c 200000 /dev/urandom; } > "$2"
	chmod +x "$2"
}
plant x "$corpus/tmp/.x/kworkerds" "donate.v2.xmrig.com" "cpu-max-threads-hint" "stratum+tcp://"
plant x "$corpus/bin/systemd-helper" "mining.subscribe" "mining.authorize" "RandomX" "cryptonight"
plant x "$corpus/lib/libupdate.so" "xmr-stak" "pool.supportxmr.com" "UPX!"

"$work/sigbench" -yara "$work/rules.yar"
files=$(find "$corpus" -type f | wc -l)
mib=$(du -sm --apparent-size "$corpus" | cut -f1)
echo "corpus: $files files, $mib MiB; yara $(yara --version); $(nproc) CPUs; J=$J"
cat "$corpus"/*/* "$corpus"/tmp/.x/* >/dev/null # warm the page cache

now() { date +%s.%N; }
best() { sort -n | head -1; }

yt=$(for _ in $(seq "$RUNS"); do
	s=$(now); yara -r -w -p "$J" "$work/rules.yar" "$corpus" >"$work/yara.out"; e=$(now)
	echo "$e - $s" | bc
done | best)
gt=$(for _ in $(seq "$RUNS"); do
	s=$(now); "$work/sigbench" -scan "$corpus" -j "$J" >"$work/sig.out"; e=$(now)
	echo "$e - $s" | bc
done | best)
mt=$(for _ in $(seq "$RUNS"); do
	s=$(now); "$work/minerguard" scan --root "$corpus" --paths / --checks files.suspicious --format json >"$work/mg.out" 2>/dev/null || true; e=$(now)
	echo "$e - $s" | bc
done | best)

echo "yara rule hits (rule file):"
sort "$work/yara.out" | awk '{print "  " $0}' | grep -E 'tmp/.x|systemd-helper|libupdate' || true
echo "yara: files matching minerguard_signatures: $(grep -c '^minerguard_signatures' "$work/yara.out" || true)"
grep '^match' "$work/sig.out" | sed 's/^/  /' | sed "s|$corpus||" || true
tail -1 "$work/sig.out"
printf 'yara      best of %d: %6.3f s  %7.1f MiB/s\n' "$RUNS" "$yt" "$(echo "$mib / $yt" | bc -l)"
printf 'sigscan   best of %d: %6.3f s  %7.1f MiB/s  (%.2fx yara)\n' "$RUNS" "$gt" "$(echo "$mib / $gt" | bc -l)" "$(echo "$yt / $gt" | bc -l)"
printf 'minerguard scan --checks files.suspicious: %6.3f s\n' "$mt"
grep -o '"rule": *"files\.[a-z_]*"' "$work/mg.out" | sort | uniq -c || true
