package respond

import (
	"context"
	"net/netip"
	"reflect"
	"testing"

	"github.com/minerguard/minerguard/internal/firewall"
	"github.com/minerguard/minerguard/internal/host"
)

type fakeFirewall struct{ tables map[string]firewall.Ruleset }

func (f *fakeFirewall) Apply(_ context.Context, r firewall.Ruleset) error {
	f.tables[r.Name()] = r
	return nil
}

func (f *fakeFirewall) Read(_ context.Context, table string) (firewall.Ruleset, bool, error) {
	r, ok := f.tables[table]
	return r, ok, nil
}

func (f *fakeFirewall) Remove(_ context.Context, table string) error {
	delete(f.tables, table)
	return nil
}

// TestFirewallActionMergesAndUndoes: a firewall action adds its blocks to
// what the table holds, and undo gives back the table as it was (or none).
func TestFirewallActionMergesAndUndoes(t *testing.T) {
	pool := netip.MustParsePrefix("203.0.113.7/32")
	earlier := firewall.Ruleset{Table: cleanTable, BlockAddrs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, BlockPorts: []uint16{3333}}
	for _, tc := range []struct {
		name   string
		before map[string]firewall.Ruleset
	}{
		{"no table yet", map[string]firewall.Ruleset{}},
		{"table from an earlier clean", map[string]firewall.Ruleset{cleanTable: earlier}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fw := &fakeFirewall{tables: map[string]firewall.Ruleset{}}
			for k, v := range tc.before {
				fw.tables[k] = v
			}
			h, err := host.Offline(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			plan := &Plan{Actions: []Action{{Kind: KindFirewall, Title: "block", Firewall: &firewall.Ruleset{Table: cleanTable, BlockAddrs: []netip.Prefix{pool}, BlockPorts: []uint16{5555}}}}}
			dir, _ := NewRunDir(t.TempDir())
			j, err := CreateJournal(dir, plan)
			if err != nil {
				t.Fatal(err)
			}
			a := &Applier{Host: h, Journal: j, Firewall: fw}
			if _, err := a.Apply(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := fw.tables[cleanTable]
			want := mergeRules(tc.before[cleanTable], *plan.Actions[0].Firewall)
			if !reflect.DeepEqual(got, want) || !contains(got.BlockAddrs, pool) || !containsPort(got.BlockPorts, 5555) {
				t.Fatalf("table after apply %+v", got)
			}
			if len(tc.before) > 0 && (!contains(got.BlockAddrs, earlier.BlockAddrs[0]) || !containsPort(got.BlockPorts, 3333)) {
				t.Fatalf("earlier blocks lost: %+v", got)
			}
			if _, err := a.Undo(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fw.tables, tc.before) {
				t.Fatalf("after undo %+v, want %+v", fw.tables, tc.before)
			}
		})
	}
}

func contains(ps []netip.Prefix, p netip.Prefix) bool {
	for _, x := range ps {
		if x.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func containsPort(ps []uint16, p uint16) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}
