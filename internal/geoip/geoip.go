// Package geoip answers which country an address is in from a MaxMind-
// format database the user supplies (GeoLite2-Country, GeoIP2-Country,
// DB-IP's country lite, or any MMDB with country.iso_code). minerguard
// ships no location data: the database is the user's, and kept current by
// them.
package geoip

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// DB is an open country database.
type DB struct {
	r    *maxminddb.Reader
	name string
}

// Open reads a MaxMind DB file.
func Open(name string) (*DB, error) {
	r, err := maxminddb.Open(name)
	if err != nil {
		return nil, fmt.Errorf("%s: not a MaxMind database: %w", name, err)
	}
	return &DB{r: r, name: name}, nil
}

// Close releases the file.
func (d *DB) Close() error { return d.r.Close() }

type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
}

// Country returns the ISO 3166 code of addr's country, "" when the
// database does not know it (private ranges, an unlisted network).
func (d *DB) Country(addr netip.Addr) (string, error) {
	var rec record
	if err := d.r.Lookup(addr.Unmap()).Decode(&rec); err != nil {
		return "", fmt.Errorf("%s: %s: %w", d.name, addr, err)
	}
	c := rec.Country.ISOCode
	if c == "" {
		c = rec.RegisteredCountry.ISOCode
	}
	return strings.ToUpper(c), nil
}

// Foreign reports whether addr is located outside home (an ISO code). An
// address the database does not place is not foreign.
func (d *DB) Foreign(addr netip.Addr, home string) (country string, foreign bool, err error) {
	c, err := d.Country(addr)
	if err != nil || c == "" {
		return c, false, err
	}
	return c, !strings.EqualFold(c, home), nil
}
