package geoip

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/minerguard/minerguard/internal/testkit/mmdb"
)

func TestCountry(t *testing.T) {
	b, err := mmdb.Write(map[netip.Prefix]string{
		netip.MustParsePrefix("198.51.100.0/24"): "DE",
		netip.MustParsePrefix("203.0.113.0/25"):  "cn",
		netip.MustParsePrefix("192.0.2.128/26"):  "US",
	})
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "country.mmdb")
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		addr, country string
		foreign       bool
	}{
		{"198.51.100.7", "DE", true},
		{"203.0.113.9", "CN", false},
		{"203.0.113.200", "", false}, // outside the /25
		{"192.0.2.130", "US", true},
		{"10.1.2.3", "", false},
		{"::ffff:198.51.100.7", "DE", true},
	} {
		c, foreign, err := db.Foreign(netip.MustParseAddr(tc.addr), "CN")
		if err != nil || c != tc.country || foreign != tc.foreign {
			t.Errorf("Foreign(%s) = %q %v %v, want %q %v", tc.addr, c, foreign, err, tc.country, tc.foreign)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Error("a missing database opened")
	}
	bad := filepath.Join(t.TempDir(), "bad.mmdb")
	os.WriteFile(bad, []byte("not a database"), 0o600)
	if _, err := Open(bad); err == nil {
		t.Error("garbage opened as a database")
	}
}
