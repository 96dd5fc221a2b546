package firewall

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/minerguard/minerguard/internal/testkit/netns"
)

// rulesets used by the kernel tests: each shape the package builds.
func kernelRulesets() []struct {
	name string
	r    Ruleset
} {
	var many []netip.Prefix
	for i := range 3000 {
		// Every other /32, so nothing merges: 3000 ranges, 6000 elements.
		many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 7), byte(i << 1), 1}), 32))
	}
	return []struct {
		name string
		r    Ruleset
	}{
		{"empty", Ruleset{}},
		{"pools", Ruleset{BlockAddrs: pfx("192.0.2.1", "198.51.100.0/24", "2001:db8::/32", "2001:db8:1::1"), BlockPorts: []uint16{3333, 4444, 14444}}},
		{"top of space", Ruleset{BlockAddrs: pfx("255.255.255.0/24", "ffff::/16", "0.0.0.0/8")}},
		{"inbound", Ruleset{InboundBlockPorts: []uint16{135, 136, 137, 138, 139, 445}}},
		{"isolate", Ruleset{Isolate: true, Allow: []Endpoint{{pfx("192.0.2.10")[0], 22}, {pfx("10.9.0.0/16")[0], 0}, {pfx("2001:db8::5")[0], 443}}}},
		{"isolate nothing allowed", Ruleset{Isolate: true}},
		{"everything", Ruleset{Table: "mg_other", BlockAddrs: pfx("203.0.113.0/25"), BlockPorts: []uint16{3333},
			InboundBlockPorts: []uint16{445}, Isolate: true, Allow: []Endpoint{{pfx("fd00::/8")[0], 22}}}},
		{"many chunks", Ruleset{BlockAddrs: many}},
		// 16,000 elements: past the default socket buffers (208 KiB), below
		// the 100k benchmark.
		{"mid-size v6", Ruleset{BlockAddrs: spread(16000, true)[8000:]}},
	}
}

func TestApplyReadRoundTrip(t *testing.T) {
	ns := netns.New(t, "fw")
	ctx := context.Background()
	at := WithNetNS(ns.Path)
	for _, tt := range kernelRulesets() {
		t.Run(tt.name, func(t *testing.T) {
			if err := Apply(ctx, tt.r, at); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			got, ok, err := Read(ctx, tt.r.Name(), at)
			if err != nil || !ok {
				t.Fatalf("Read: %v %v", ok, err)
			}
			want := tt.r.Normalized()
			if !got.Equal(want) || !slices.Equal(got.BlockAddrs, want.BlockAddrs) || !slices.Equal(got.Allow, want.Allow) {
				t.Fatalf("Read(Apply(x)) != x:\n got %+v\nwant %+v", got, want)
			}
			// Applying what was read installs the same table again.
			if err := Apply(ctx, got, at); err != nil {
				t.Fatalf("re-Apply: %v", err)
			}
			if again, _, err := Read(ctx, tt.r.Name(), at); err != nil || !again.Equal(want) {
				t.Fatalf("second read %+v %v", again, err)
			}
			nftCheck(t, ns, tt.r.Normalized())
		})
	}
	// The last one replaced nothing of the others: both tables exist.
	for _, name := range []string{DefaultTable, "mg_other"} {
		if _, ok, err := Read(ctx, name, at); !ok || err != nil {
			t.Errorf("table %s: %v %v", name, ok, err)
		}
	}
	if err := Remove(ctx, DefaultTable, at); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := Read(ctx, DefaultTable, at); ok || err != nil {
		t.Fatalf("after Remove: exists=%v err=%v", ok, err)
	}
	// Removing what is not there is fine (undo twice, a crashed apply).
	if err := Remove(ctx, DefaultTable, at); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}

// nftCheck cross-checks the table with Debian's nft, which parses every
// object and expression back: a malformed rule fails to list.
func nftCheck(t *testing.T, ns *netns.NS, r Ruleset) {
	t.Helper()
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Log("nft not installed: cross-check skipped (Debian: apt-get install nftables)")
		return
	}
	out, err := ns.Exec(context.Background(), nft, "list", "table", "inet", r.Name()).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table inet %s: %v\n%s", r.Name(), err, out)
	}
	s := string(out)
	if strings.Contains(s, "unknown") || strings.Contains(s, "[invalid") {
		t.Errorf("nft cannot decode part of the table:\n%s", s)
	}
	var want []string
	v4, v6 := splitFamilies(r.BlockAddrs)
	for _, p := range append(v4[:min(len(v4), 5)], v6...) {
		if p.IsSingleIP() {
			want = append(want, p.Addr().String())
		} else {
			want = append(want, p.String())
		}
	}
	for _, p := range r.BlockPorts {
		want = append(want, fmt.Sprint(p))
	}
	for _, c := range chainsFor(r) {
		want = append(want, "chain "+c.name+" {", "type filter hook "+c.hook+" priority filter - 10; policy accept;")
	}
	// Every rule decodes to exactly the nft syntax the package documents
	// for it: the expressions say what ruleText says.
	norm := regexp.MustCompile(`counter packets \d+ bytes \d+`).ReplaceAllString(s, "counter")
	for _, c := range chainsFor(r) {
		body := norm[strings.Index(norm, "chain "+c.name+" {"):]
		body = body[:strings.Index(body, "\n\t}")]
		var got []string
		for _, l := range strings.Split(body, "\n")[2:] {
			l, _, _ = strings.Cut(strings.TrimSpace(l), " comment ")
			got = append(got, l)
		}
		if !slices.Equal(got, c.lines) {
			t.Errorf("chain %s as nft reads it:\n%s\nwant:\n%s", c.name, strings.Join(got, "\n"), strings.Join(c.lines, "\n"))
		}
	}
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("nft list lacks %q:\n%s", w, s)
		}
	}
}

func TestOtherTablesUntouched(t *testing.T) {
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed (Debian: apt-get install nftables)")
	}
	ns := netns.New(t, "fw")
	ctx := context.Background()
	at := WithNetNS(ns.Path)
	// Someone else's table, including one of the same name in another family.
	other := "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport 22 accept\n\t}\n}\ntable ip minerguard {\n\tset s {\n\t\ttype ipv4_addr\n\t}\n}\n"
	cmd := ns.Exec(ctx, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(other)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v %s", err, out)
	}
	list := func() string {
		out, err := ns.Exec(ctx, nft, "list", "ruleset").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list ruleset: %v %s", err, out)
		}
		return string(out)
	}
	before := list()
	if err := Apply(ctx, Ruleset{BlockAddrs: pfx("192.0.2.1"), Isolate: true}, at); err != nil {
		t.Fatal(err)
	}
	if err := Remove(ctx, DefaultTable, at); err != nil {
		t.Fatal(err)
	}
	if after := list(); after != before {
		t.Fatalf("ruleset changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestReadRefusesForeignObjects(t *testing.T) {
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed (Debian: apt-get install nftables)")
	}
	ns := netns.New(t, "fw")
	ctx := context.Background()
	at := WithNetNS(ns.Path)
	tests := []struct {
		name, add, want string
	}{
		{"extra set", "add set inet minerguard extra { type ipv4_addr; }", "set extra"},
		{"extra chain", "add chain inet minerguard mine", "chain mine"},
		{"extra rule", "add rule inet minerguard block_out accept", "chain block_out has 5 rules"},
		{"ranges not from us", "add element inet minerguard block_ports { 9999 }", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Apply(ctx, Ruleset{BlockAddrs: pfx("192.0.2.1"), BlockPorts: []uint16{3333}}, at); err != nil {
				t.Fatal(err)
			}
			if out, err := ns.Exec(ctx, nft, strings.Fields(tt.add)...).CombinedOutput(); err != nil {
				t.Fatalf("nft %s: %v %s", tt.add, err, out)
			}
			r, ok, err := Read(ctx, DefaultTable, at)
			if tt.want == "" {
				// Elements are data, not structure: read back as they are.
				if err != nil || !ok || !slices.Equal(r.BlockPorts, []uint16{3333, 9999}) {
					t.Fatalf("Read = %+v %v %v", r, ok, err)
				}
				return
			}
			if !ok || !errors.Is(err, ErrForeign) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Read err = %v (exists %v), want ErrForeign naming %q", err, ok, tt.want)
			}
		})
	}
}

func TestErrorsNamed(t *testing.T) {
	ctx := context.Background()
	if err := Apply(ctx, Ruleset{Table: "bad name"}); err == nil || !strings.Contains(err.Error(), "table name") {
		t.Errorf("bad table name: %v", err)
	}
	if _, _, err := Read(ctx, DefaultTable, WithNetNS("/nonexistent/netns")); err == nil || !strings.Contains(err.Error(), "/nonexistent/netns") {
		t.Errorf("missing namespace: %v", err)
	}
	for _, tt := range []struct {
		err  error
		want error
	}{
		{&netlink.OpError{Op: "receive", Err: unix.EPERM}, ErrPermission},
		{fmt.Errorf("x: %w", unix.EPROTONOSUPPORT), ErrNoNFTables},
		{errors.Join(errors.New("a"), unix.EOPNOTSUPP), ErrNoNFTables},
	} {
		if got := classify(tt.err); !errors.Is(got, tt.want) {
			t.Errorf("classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestBatchMessages checks the netlink messages one Apply sends, without
// a kernel: one batch, the table replaced first, element lists within a
// netlink attribute's 16-bit length.
func TestBatchMessages(t *testing.T) {
	var many []netip.Prefix
	for i := range 5000 {
		many = append(many, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}), 128))
	}
	// Every other address, so nothing merges.
	many = slices.DeleteFunc(many, func(p netip.Prefix) bool { return p.Addr().As16()[15]%2 == 1 })
	r := Ruleset{BlockAddrs: many, BlockPorts: []uint16{3333}, Isolate: true, Allow: []Endpoint{{pfx("10.0.0.1")[0], 22}}}.Normalized()
	var sent []netlink.Message
	c, err := nftables.New(nftables.WithTestDial(func(req []netlink.Message) ([]netlink.Message, error) {
		sent = append(sent, req...)
		// Acknowledge every request.
		var acks []netlink.Message
		for _, m := range req {
			acks = append(acks, netlink.Message{Header: netlink.Header{Type: netlink.Error, Sequence: m.Header.Sequence}, Data: make([]byte, 4)})
		}
		return acks, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	b := newBatch(r)
	if err := b.queue(c); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	kind := func(m netlink.Message) int {
		if m.Header.Type == netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN) || m.Header.Type == netlink.HeaderType(unix.NFNL_MSG_BATCH_END) {
			return int(m.Header.Type)
		}
		return int(m.Header.Type) & 0xff
	}
	var kinds []int
	elemMsgs, total := 0, 0
	for _, m := range sent {
		total += 16 + len(m.Data) + 4 // header, payload, alignment
		kinds = append(kinds, kind(m))
		if kind(m) == unix.NFT_MSG_NEWSETELEM {
			elemMsgs++
		}
		if len(m.Data) > 0xffff {
			t.Errorf("message of %d bytes: an attribute cannot hold it", len(m.Data))
		}
	}
	// The socket buffers are sized from the estimate: it must not fall short.
	if total > b.size {
		t.Errorf("batch of %d bytes, estimated %d", total, b.size)
	}
	wantStart := []int{unix.NFNL_MSG_BATCH_BEGIN, unix.NFT_MSG_NEWTABLE, unix.NFT_MSG_DELTABLE, unix.NFT_MSG_NEWTABLE, unix.NFT_MSG_NEWSET}
	if !slices.Equal(kinds[:len(wantStart)], wantStart) || kinds[len(kinds)-1] != unix.NFNL_MSG_BATCH_END {
		t.Fatalf("message order %v", kinds[:min(len(kinds), 8)])
	}
	// 2500 v6 addresses = 5000 interval elements, in 512s; plus the port
	// and the allow element.
	if want := (5000+elemChunk-1)/elemChunk + 2; elemMsgs != want {
		t.Errorf("%d element messages, want %d", elemMsgs, want)
	}
	rules := 0
	for _, c := range chainsFor(r) {
		rules += len(c.rules)
	}
	if n := count(kinds, unix.NFT_MSG_NEWRULE); n != rules {
		t.Errorf("%d rules sent, want %d", n, rules)
	}
	if n := count(kinds, unix.NFT_MSG_NEWCHAIN); n != 6 {
		t.Errorf("%d chains sent, want 6", n)
	}
}

func count(xs []int, x int) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}
