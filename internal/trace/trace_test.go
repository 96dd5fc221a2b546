package trace

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

const dnsmasqLeases = `1763935200 aa:bb:cc:00:00:01 10.20.0.15 gpu07 01:aa:bb:cc:00:00:01
1763935200 aa:bb:cc:00:00:02 10.20.0.16 * *
`

const iscLeases = `# dhcpd.leases
lease 10.30.0.9 {
  starts 1 2026/11/23 08:00:00;
  ends 1 2026/11/23 12:00:00;
  hardware ethernet AA:BB:CC:00:00:09;
  client-hostname "lab-ws-3";
}
lease 10.30.0.9 {
  starts 1 2026/11/23 12:00:00;
  ends 1 2026/11/23 16:00:00;
  hardware ethernet aa:bb:cc:00:00:10;
  client-hostname "lab-ws-4";
}
`

const keaLeases = `address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state
10.40.0.2,aa:bb:cc:00:00:20,,3600,1763935200,1,0,0,render-02,0
`

const inventory = `ip,hostname,owner,department,location,contact
10.20.0.0/16,,Network team,IT,Data centre A,noc@example.edu
10.20.0.15,gpu07,Dr. Li,Physics,Building 3 room 201,li@example.edu
10.30.0.0/24,,Lab admin,Chemistry,Building 5,lab@example.edu
`

func TestResolve(t *testing.T) {
	var tr Tracer
	for name, s := range map[string]string{"dnsmasq.leases": dnsmasqLeases, "dhcpd.leases": iscLeases, "kea-leases4.csv": keaLeases} {
		if err := tr.AddLeases(strings.NewReader(s), name); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.AddInventory(strings.NewReader(inventory), "assets.csv"); err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	tests := []struct {
		addr                             string
		at                               time.Time
		host, mac, owner, dept, location string
	}{
		{"10.20.0.15", time.Time{}, "gpu07", "aa:bb:cc:00:00:01", "Dr. Li", "Physics", "Building 3 room 201"},
		{"10.20.0.16", time.Time{}, "", "aa:bb:cc:00:00:02", "Network team", "IT", "Data centre A"},
		{"10.30.0.9", at("2026-11-23T09:30:00Z"), "lab-ws-3", "aa:bb:cc:00:00:09", "Lab admin", "Chemistry", "Building 5"},
		{"10.30.0.9", at("2026-11-23T13:30:00Z"), "lab-ws-4", "aa:bb:cc:00:00:10", "Lab admin", "Chemistry", "Building 5"},
		{"10.40.0.2", time.Time{}, "render-02", "aa:bb:cc:00:00:20", "", "", ""},
	}
	for _, tc := range tests {
		o, ok := tr.Resolve(netip.MustParseAddr(tc.addr), tc.at)
		if !ok || o.Hostname != tc.host || o.MAC != tc.mac || o.Owner != tc.owner || o.Department != tc.dept || o.Location != tc.location {
			t.Errorf("%s at %v: %+v", tc.addr, tc.at, o)
		}
	}
	if _, ok := tr.Resolve(netip.MustParseAddr("192.0.2.1"), time.Time{}); ok {
		t.Error("unknown address resolved")
	}
}

func TestErrorsNameFileAndLine(t *testing.T) {
	var tr Tracer
	for _, tc := range []struct{ name, text, want string }{
		{"dnsmasq.leases", "1763935200 aa:bb:cc:00:00:01 not-an-ip host *\n", "dnsmasq.leases:1"},
		{"dnsmasq.leases", "x aa 10.0.0.1 h\n", "dnsmasq.leases:1"},
		{"dhcpd.leases", "lease 999.1.1.1 {\n}\n", "dhcpd.leases:1"},
	} {
		if err := tr.AddLeases(strings.NewReader(tc.text), tc.name); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v", tc.text, err)
		}
	}
	if err := tr.AddInventory(strings.NewReader("host,owner\nx,y\n"), "a.csv"); err == nil || !strings.Contains(err.Error(), "a.csv") {
		t.Errorf("no ip column: %v", err)
	}
	if err := tr.AddInventory(strings.NewReader("ip,owner\n10.0.0.300,y\n"), "a.csv"); err == nil || !strings.Contains(err.Error(), "a.csv:2") {
		t.Errorf("bad ip: %v", err)
	}
}

func FuzzLeases(f *testing.F) {
	f.Add(dnsmasqLeases)
	f.Add(iscLeases)
	f.Add(keaLeases)
	f.Fuzz(func(t *testing.T, s string) {
		var tr Tracer
		_ = tr.AddLeases(strings.NewReader(s), "fuzz")
		_ = tr.AddInventory(strings.NewReader(s), "fuzz")
		tr.Resolve(netip.MustParseAddr("10.20.0.15"), time.Time{})
	})
}
