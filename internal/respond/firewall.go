package respond

import (
	"context"
	"fmt"
	"slices"

	"github.com/minerguard/minerguard/internal/firewall"
	"github.com/minerguard/minerguard/internal/isolate"
)

// Firewall is the nftables access a firewall action needs: the same as
// isolate's, the kernel's by default, a fake in tests.
type Firewall = isolate.Firewall

// mergeRules adds want's blocks to have's, keeping have's isolation.
func mergeRules(have, want firewall.Ruleset) firewall.Ruleset {
	out := have
	out.Table = want.Name()
	out.BlockAddrs = firewall.NormalizePrefixes(append(slices.Clone(have.BlockAddrs), want.BlockAddrs...))
	out.BlockPorts = unionPorts(have.BlockPorts, want.BlockPorts)
	out.InboundBlockPorts = unionPorts(have.InboundBlockPorts, want.InboundBlockPorts)
	return out
}

func unionPorts(a, b []uint16) []uint16 {
	out := slices.Clone(a)
	for _, p := range b {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// applyFirewall records the table as it is, then installs it with the
// action's blocks added (one atomic netlink batch).
func (a *Applier) applyFirewall(ctx context.Context, i int, act Action) (string, error) {
	if act.Firewall == nil {
		return "", fmt.Errorf("firewall action without rules")
	}
	fw := a.fw()
	table := act.Firewall.Name()
	before := a.st.fw[i]
	if before == nil {
		have, existed, err := fw.Read(ctx, table)
		if err != nil {
			return "", fmt.Errorf("read nftables table inet %s: %w", table, err)
		}
		before = &FirewallBefore{Existed: existed, Rules: have}
		if err := a.Journal.Append(Record{Type: recBegin, Action: i, Firewall: before}); err != nil {
			return "", err
		}
		a.st.fw[i] = before
		a.step()
	}
	want := mergeRules(before.Rules, *act.Firewall)
	if err := fw.Apply(ctx, want); err != nil {
		return "", fmt.Errorf("nftables table inet %s: %w", table, err)
	}
	return fmt.Sprintf("nftables table inet %s: %d address block(s), outbound ports %v, inbound ports %v", table, len(want.BlockAddrs), want.BlockPorts, want.InboundBlockPorts), nil
}

// undoFirewall puts the table back as it was, or removes it.
func (a *Applier) undoFirewall(ctx context.Context, i int, act Action) error {
	before := a.st.fw[i]
	if before == nil || act.Firewall == nil {
		return nil
	}
	if before.Existed {
		return a.fw().Apply(ctx, before.Rules)
	}
	return a.fw().Remove(ctx, act.Firewall.Name())
}

func (a *Applier) fw() Firewall {
	if a.Firewall != nil {
		return a.Firewall
	}
	return isolate.Kernel{}
}
