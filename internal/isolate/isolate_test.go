package isolate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
	"github.com/minerguard/minerguard/internal/firewall"
)

func TestFromReport(t *testing.T) {
	tests := []struct {
		file      string
		min       findings.Severity
		addrs     []string
		ports     []uint16
		skipped   []string
		errSubstr string
	}{
		{file: "scan-report.json", min: findings.Medium,
			addrs:   []string{"198.51.100.7/32", "198.51.100.8/32", "2001:db8::77/128"},
			ports:   []uint16{3333, 5555, 14444},
			skipped: []string{"127.0.0.1 is not a remote host"}},
		{file: "scan-report.json", min: findings.Low,
			addrs: []string{"198.51.100.7/32", "198.51.100.8/32", "203.0.113.44/32", "2001:db8::77/128"},
			ports: []uint16{3333, 4444, 5555, 14444}},
		{file: "scan-report.json", min: findings.Critical,
			addrs: []string{"198.51.100.7/32", "198.51.100.8/32"},
			ports: []uint16{3333, 5555}},
		{file: "net-report.json", min: findings.Medium,
			addrs:   []string{"192.0.2.50/31"},
			ports:   []uint16{443, 3333},
			skipped: []string{"incidents[0].remotes[0]: 10.1.1.1 is the resolver"}},
		{file: "bad-type.json", errSubstr: "bad-type.json: field findings.evidence.remote"},
		{file: "bad-syntax.json", errSubstr: "bad-syntax.json: offset 38"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.file, tt.min), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := FromReport(bytes.NewReader(b), tt.file, tt.min)
			if tt.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want %q", err, tt.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var addrs []string
			for _, p := range got.Addrs {
				addrs = append(addrs, p.String())
			}
			if !slices.Equal(addrs, tt.addrs) || !slices.Equal(got.Ports, tt.ports) {
				t.Errorf("addrs %v ports %v, want %v %v", addrs, got.Ports, tt.addrs, tt.ports)
			}
			for _, s := range tt.skipped {
				if !strings.Contains(strings.Join(got.Skipped, "\n"), s) {
					t.Errorf("skipped %q missing from %q", s, got.Skipped)
				}
			}
			for _, a := range addrs {
				// The resolver and the local proxy are never blocked.
				if strings.HasPrefix(a, "10.1.1.1/") || strings.HasPrefix(a, "127.") {
					t.Errorf("blocked %s", a)
				}
			}
		})
	}
}

func FuzzFromReport(f *testing.F) {
	for _, n := range []string{"scan-report.json", "net-report.json", "bad-type.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := FromReport(bytes.NewReader(b), "fuzz.json", findings.Info)
		if err != nil {
			return
		}
		for _, p := range got.Addrs {
			if a := p.Addr(); a.IsLoopback() || a.IsUnspecified() || a.IsMulticast() || !p.IsValid() {
				t.Fatalf("would block %v", p)
			}
		}
	})
}

// memFirewall is an in-memory nftables holding tables by name.
type memFirewall struct {
	tables   map[string]firewall.Ruleset
	applyErr error
	onApply  func(firewall.Ruleset)
	readErr  error
}

func (m *memFirewall) Apply(_ context.Context, r firewall.Ruleset) error {
	if m.onApply != nil {
		m.onApply(r)
	}
	if m.applyErr != nil {
		return m.applyErr
	}
	m.tables[r.Name()] = r.Normalized()
	return nil
}

func (m *memFirewall) Read(_ context.Context, table string) (firewall.Ruleset, bool, error) {
	if m.readErr != nil {
		_, ok := m.tables[table]
		return firewall.Ruleset{}, ok, m.readErr
	}
	r, ok := m.tables[table]
	return r, ok, nil
}

func (m *memFirewall) Remove(_ context.Context, table string) error {
	delete(m.tables, table)
	return nil
}

func pools(addrs ...string) firewall.Ruleset {
	var ps []netip.Prefix
	for _, a := range addrs {
		p, _ := firewall.ParsePrefix(a)
		ps = append(ps, p)
	}
	return firewall.Ruleset{BlockAddrs: ps, BlockPorts: []uint16{3333}}
}

func TestApplyUndo(t *testing.T) {
	ctx := context.Background()
	quarantine := firewall.Ruleset{Isolate: true, Allow: []firewall.Endpoint{{Prefix: netip.MustParsePrefix("10.0.0.5/32"), Port: 22}}}
	tests := []struct {
		name     string
		before   *firewall.Ruleset // minerguard's table before the first isolate
		applies  []firewall.Ruleset
		wantGone bool
	}{
		{name: "no table before", applies: []firewall.Ruleset{pools("192.0.2.1")}, wantGone: true},
		{name: "table before", before: ptr(pools("203.0.113.9")), applies: []firewall.Ruleset{pools("192.0.2.1")}},
		{name: "two isolates undo to the first state", before: ptr(pools("203.0.113.9")), applies: []firewall.Ruleset{pools("192.0.2.1"), quarantine}},
		{name: "two isolates from nothing", applies: []firewall.Ruleset{quarantine, pools("192.0.2.1")}, wantGone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fw := &memFirewall{tables: map[string]firewall.Ruleset{"other": pools("198.51.100.1")}}
			if tt.before != nil {
				fw.tables[firewall.DefaultTable] = tt.before.Normalized()
			}
			store := Store{Dir: filepath.Join(t.TempDir(), "state"), Key: firewall.DefaultTable}
			for i, rs := range tt.applies {
				fw.onApply = func(r firewall.Ruleset) {
					// The state is on disk before the firewall changes.
					st, err := store.Load()
					if err != nil || st == nil || !st.Applied.Equal(r) {
						t.Errorf("apply %d: state before apply = %+v, %v", i, st, err)
					}
				}
				st, err := Apply(ctx, fw, store, rs, Meta{Host: "h1", Mode: "pools", Now: time.Unix(int64(1000+i), 0)}, false)
				if err != nil {
					t.Fatal(err)
				}
				if !fw.tables[firewall.DefaultTable].Equal(rs) || !st.Created.Equal(time.Unix(1000, 0)) || st.Host != "h1" {
					t.Fatalf("after apply %d: table %+v state %+v", i, fw.tables[firewall.DefaultTable], st)
				}
			}
			fw.onApply = nil
			if runtime.GOOS != "windows" {
				fi, err := os.Stat(store.Dir)
				if err != nil || fi.Mode().Perm() != 0o700 {
					t.Errorf("state dir mode %v %v", fi.Mode(), err)
				}
			}
			if _, warn, err := Undo(ctx, fw, store); err != nil || len(warn) != 0 {
				t.Fatalf("Undo: %v %v", warn, err)
			}
			got, exists := fw.tables[firewall.DefaultTable]
			if tt.wantGone && exists || !tt.wantGone && (!exists || !got.Equal(*tt.before)) {
				t.Fatalf("after undo: %+v exists=%v", got, exists)
			}
			if !fw.tables["other"].Equal(pools("198.51.100.1")) {
				t.Fatal("other table changed")
			}
			if st, err := store.Load(); st != nil || err != nil {
				t.Fatalf("state left after undo: %+v %v", st, err)
			}
			if _, _, err := Undo(ctx, fw, store); err == nil || !strings.Contains(err.Error(), "nothing to undo") {
				t.Fatalf("second undo: %v", err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestApplyFailureLeavesNoState(t *testing.T) {
	ctx := context.Background()
	fw := &memFirewall{tables: map[string]firewall.Ruleset{}, applyErr: firewall.ErrPermission}
	store := Store{Dir: t.TempDir(), Key: "minerguard"}
	if _, err := Apply(ctx, fw, store, pools("192.0.2.1"), Meta{}, false); !errors.Is(err, firewall.ErrPermission) {
		t.Fatalf("err = %v", err)
	}
	if st, err := store.Load(); st != nil || err != nil {
		t.Fatalf("state after failed first apply: %+v %v", st, err)
	}
	// A failed second isolate keeps the first one's state.
	fw.applyErr = nil
	if _, err := Apply(ctx, fw, store, pools("192.0.2.1"), Meta{Mode: "pools"}, false); err != nil {
		t.Fatal(err)
	}
	fw.applyErr = errors.New("boom")
	if _, err := Apply(ctx, fw, store, pools("192.0.2.2"), Meta{Mode: "all"}, false); err == nil {
		t.Fatal("no error")
	}
	st, err := store.Load()
	if err != nil || st == nil || st.Mode != "pools" || !st.Applied.Equal(pools("192.0.2.1")) {
		t.Fatalf("state after failed second apply: %+v %v", st, err)
	}
}

func TestCrashBeforeApply(t *testing.T) {
	// The process dies after saving the state and before the kernel
	// changed: undo must restore the (unchanged) previous table.
	ctx := context.Background()
	before := pools("203.0.113.9").Normalized()
	fw := &memFirewall{tables: map[string]firewall.Ruleset{firewall.DefaultTable: before}}
	store := Store{Dir: t.TempDir(), Key: "minerguard"}
	crash := errors.New("crash")
	fw.applyErr = crash
	fw.onApply = func(firewall.Ruleset) {
		// Copy the state aside as a crash would leave it.
		b, _ := os.ReadFile(store.Path())
		os.WriteFile(store.Path()+".crash", b, 0o600)
	}
	Apply(ctx, fw, store, pools("192.0.2.1"), Meta{}, false)
	if err := os.Rename(store.Path()+".crash", store.Path()); err != nil {
		t.Fatal(err)
	}
	fw.applyErr, fw.onApply = nil, nil
	_, warn, err := Undo(ctx, fw, store)
	if err != nil || !fw.tables[firewall.DefaultTable].Equal(before) {
		t.Fatalf("undo after crash: %v %v", fw.tables, err)
	}
	if len(warn) != 1 || !strings.Contains(warn[0], "changed since isolate") {
		t.Fatalf("warnings %q", warn)
	}
}

func TestForeignTable(t *testing.T) {
	ctx := context.Background()
	fw := &memFirewall{tables: map[string]firewall.Ruleset{firewall.DefaultTable: {}}, readErr: fmt.Errorf("%w: set x", firewall.ErrForeign)}
	store := Store{Dir: t.TempDir(), Key: "minerguard"}
	if _, err := Apply(ctx, fw, store, pools("192.0.2.1"), Meta{}, false); !errors.Is(err, firewall.ErrForeign) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v", err)
	}
	st, err := Apply(ctx, fw, store, pools("192.0.2.1"), Meta{}, true)
	if err != nil || !st.PreviousExisted || st.Previous != nil || !strings.Contains(st.PreviousError, "set x") {
		t.Fatalf("forced: %+v %v", st, err)
	}
	fw.readErr = nil
	_, warn, err := Undo(ctx, fw, store)
	if _, ok := fw.tables[firewall.DefaultTable]; ok || err != nil || !strings.Contains(strings.Join(warn, " "), "could not be kept") {
		t.Fatalf("undo: %v %v %v", fw.tables, warn, err)
	}
}

func TestLoadRefusesBadState(t *testing.T) {
	tests := []struct{ content, want string }{
		{`{"version": 9}`, "version 9"},
		{`{"version": 1, "extra": 1}`, "unknown field"},
		{`{"version": 1, "table": "t", "applied": {"table": "bad name"}}`, "applied: table name"},
		{`not json`, "invalid character"},
	}
	for _, tt := range tests {
		store := Store{Dir: t.TempDir(), Key: "minerguard"}
		if err := os.WriteFile(store.Path(), []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Load(); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), store.Path()) {
			t.Errorf("%s: err = %v, want %q and the path", tt.content, err, tt.want)
		}
	}
}

func TestConcurrentIsolateRefused(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the lock is Linux only")
	}
	ctx := context.Background()
	store := Store{Dir: t.TempDir(), Key: "minerguard"}
	fw := &memFirewall{tables: map[string]firewall.Ruleset{}}
	// A second run starts while the first is between saving and applying.
	var inner error
	fw.onApply = func(firewall.Ruleset) {
		_, inner = Apply(ctx, &memFirewall{tables: map[string]firewall.Ruleset{}}, store, pools("192.0.2.2"), Meta{}, false)
	}
	if _, err := Apply(ctx, fw, store, pools("192.0.2.1"), Meta{}, false); err != nil {
		t.Fatal(err)
	}
	if inner == nil || !strings.Contains(inner.Error(), "another minerguard isolate is running") {
		t.Fatalf("concurrent apply: %v", inner)
	}
	// The lock is released afterwards.
	if _, _, err := Undo(ctx, fw, store); err != nil {
		t.Fatal(err)
	}
}
