// Command gendnslog writes a large dnsmasq --log-queries log
// (internal/testkit/dnsloggen) with pool lookups and near-miss names for
// benchmarking `minerguard net logs`; scripts/bench-net.sh drives it.
//
//	gendnslog -o /tmp/dnsmasq.log -lines 10000000 [-seed 1] [-manifest m.json]
//
// The pool names are minerguard's own list (the embedded intel). It is a
// development tool, not part of the minerguard binary.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/minerguard/minerguard/internal/intel"
	"github.com/minerguard/minerguard/internal/testkit/dnsloggen"
)

func main() {
	out := flag.String("o", "", "log file to write")
	lines := flag.Int("lines", 1000000, "lines to write")
	seed := flag.Uint64("seed", 1, "random seed")
	manifest := flag.String("manifest", "", "write the counts of what was planted as JSON here")
	flag.Parse()
	if *out == "" || *lines <= 0 {
		fmt.Fprintln(os.Stderr, "usage: gendnslog -o FILE -lines N [-seed N] [-manifest FILE]")
		os.Exit(2)
	}
	if err := run(*out, *manifest, *lines, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gendnslog:", err)
		os.Exit(1)
	}
}

func run(out, manifest string, lines int, seed uint64) error {
	db, err := intel.Load()
	if err != nil {
		return err
	}
	var pools []string
	for _, d := range db.Domains {
		pools = append(pools, d.Domain)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	m, err := dnsloggen.Generate(f, dnsloggen.Config{Lines: lines, Seed: seed, Pools: pools})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s: %d lines, %d queries, %d pool queries (%d mixed case), %d near misses\n", out, m.Lines, m.Queries, m.PoolQueries, m.PoolMixedCase, m.NearQueries)
	if manifest != "" {
		b, _ := json.MarshalIndent(m, "", "  ")
		return os.WriteFile(manifest, b, 0o644)
	}
	return nil
}
