// Command genpcap writes a large mixed capture (internal/testkit/pcapgen)
// for benchmarking `minerguard net pcap`; scripts/bench-net.sh drives it.
//
//	genpcap -o /tmp/mixed.pcap -size 1G [-seed 1] [-manifest planted.json]
//
// It is a development tool, not part of the minerguard binary.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/minerguard/minerguard/internal/testkit/pcapgen"
)

func main() {
	out := flag.String("o", "", "capture file to write")
	size := flag.String("size", "100M", "capture size (suffix K, M or G)")
	seed := flag.Uint64("seed", 1, "random seed")
	conc := flag.Int("flows", 256, "benign flows open at once")
	manifest := flag.String("manifest", "", "write the planted sessions as JSON here")
	flag.Parse()
	n, err := parseSize(*size)
	if err != nil || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: genpcap -o FILE -size 1G [-seed N] [-manifest FILE]")
		os.Exit(2)
	}
	if err := run(*out, *manifest, pcapgen.Config{Size: n, Seed: *seed, Concurrent: *conc}); err != nil {
		fmt.Fprintln(os.Stderr, "genpcap:", err)
		os.Exit(1)
	}
}

func run(out, manifest string, cfg pcapgen.Config) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	m, err := pcapgen.Generate(f, cfg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s: %d packets, %d bytes, flows %v, %d mining sessions\n", out, m.Packets, m.Bytes, m.Flows, len(m.Sessions))
	if manifest != "" {
		b, _ := json.MarshalIndent(m, "", "  ")
		return os.WriteFile(manifest, b, 0o644)
	}
	return nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q", s)
	}
	return n * mult, nil
}
