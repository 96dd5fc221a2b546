package overlay

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, s string) []Entry {
	t.Helper()
	e, bad, err := Parse(strings.NewReader(s), "feed", "pool", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), 0)
	if err != nil || len(bad) > 0 {
		t.Fatal(err, bad)
	}
	return e
}

func TestUpdateShrinkAndFirstSeen(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	day1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	big := "a.example\nb.example\nc.example\nd.example\n192.0.2.0/24\n"
	if _, err := s.Update("cb", "feed", parse(t, big), day1, false); err != nil {
		t.Fatal(err)
	}
	// Half gone: refused, and the stored feed is untouched.
	_, err := s.Update("cb", "feed", parse(t, "a.example\n"), day1.Add(24*time.Hour), false)
	if !errors.Is(err, ErrShrunk) {
		t.Fatalf("err %v, want ErrShrunk", err)
	}
	f, _ := s.Load("cb")
	if len(f.Entries) != 5 {
		t.Fatalf("stored feed changed after a refused update: %d entries", len(f.Entries))
	}
	// A normal update keeps first-seen dates and moves last-seen.
	day3 := day1.Add(48 * time.Hour)
	e := parse(t, big+"e.example\n")
	for i := range e {
		e[i].FirstSeen, e[i].LastSeen = day3, day3
	}
	f, err = s.Update("cb", "feed", e, day3, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range f.Entries {
		want := day1
		if x.Value == "e.example" {
			want = day3
		}
		if !x.FirstSeen.Equal(want) || !x.LastSeen.Equal(day3) {
			t.Errorf("%s: first %v last %v", x.Value, x.FirstSeen, x.LastSeen)
		}
	}
	// --force accepts the shrink.
	if _, err := s.Update("cb", "feed", parse(t, "a.example\n"), day3, true); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(s.Dir, "feeds", ".tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	if _, err := s.Update("../evil", "feed", parse(t, big), day3, false); err == nil {
		t.Error("a source name with a path was accepted")
	}
}

func TestAllowAndLookup(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if _, err := s.Update("f", "x", parse(t, "pool.example\n198.51.100.0/24\n"), time.Now(), false); err != nil {
		t.Fatal(err)
	}
	feeds, _ := s.Feeds()
	if m := Lookup(feeds, "eu.pool.example"); len(m) != 1 || m[0].Entry != "pool.example" || m[0].Source != "f" {
		t.Errorf("suffix lookup: %+v", m)
	}
	if m := Lookup(feeds, "notpool.example"); len(m) != 0 {
		t.Errorf("notpool.example matched: %+v", m)
	}
	if m := Lookup(feeds, "198.51.100.7"); len(m) != 1 {
		t.Errorf("address lookup: %+v", m)
	}
	if _, err := s.Allow("Research.Example.", "lab mirror", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Allow("203.0.113.0/28", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Allow("not a thing", "", time.Now()); err == nil {
		t.Error("bad allowlist value accepted")
	}
	allow, _ := s.Allowed()
	for v, want := range map[string]bool{"research.example": true, "gpu.research.example": true, "xresearch.example": false, "203.0.113.5": true, "203.0.113.99": false, "203.0.113.0/29": true} {
		if _, got := Allows(allow, v); got != want {
			t.Errorf("Allows(%s) = %v", v, got)
		}
	}
	b, _ := os.ReadFile(filepath.Join(s.Dir, "allow.txt"))
	if !strings.Contains(string(b), "research.example  # added ") || !strings.Contains(string(b), ": lab mirror\n") {
		t.Errorf("allow.txt: %q", b)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("pool.example\n0.0.0.0 a.example\n||b.example^\n")
	f.Add(`{"source":"x","entries":[{"value":"A.example","kind":"domain"},{"value":"1.2.3.4","kind":"net"}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		es, _, err := Parse(strings.NewReader(s), "fuzz", "pool", time.Now(), 1<<20)
		if err != nil {
			return
		}
		for _, e := range es {
			if e.Kind != "domain" && e.Kind != "net" || e.Value == "" {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}
