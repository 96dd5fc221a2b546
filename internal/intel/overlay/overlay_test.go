package overlay

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
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

func TestParseAllow(t *testing.T) {
	es, err := ParseAllow([]byte("# header\nA.example  # added 2026-11-02: lab\n\n192.0.2.9 # hand-written\nb.example\n"), "allow.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 || es[0].Value != "a.example" || es[0].Note != "lab" || es[0].Added.Format(time.DateOnly) != "2026-11-02" ||
		es[1].Value != "192.0.2.9/32" || !es[1].Added.IsZero() || es[2].Value != "b.example" {
		t.Errorf("%+v", es)
	}
	if _, err := ParseAllow([]byte("ok.example\n\nbad name\n"), "allow.txt"); err == nil || !strings.Contains(err.Error(), "allow.txt:3:") {
		t.Errorf("bad line: %v", err)
	}
}

func TestParseJSONFeed(t *testing.T) {
	good := `{"source":"x","entries":[{"value":"A.example","kind":"domain","category":"proxy","first_seen":"2026-01-02T00:00:00Z"},{"value":"192.0.2.4","kind":"net"}]}`
	es, bad, err := Parse(strings.NewReader(good), "f.json", "pool", time.Now(), 0)
	if err != nil || len(bad) != 0 || len(es) != 2 {
		t.Fatal(es, bad, err)
	}
	if es[0].Value != "a.example" || es[0].Category != "proxy" || es[0].FirstSeen.Year() != 2026 || es[1].Value != "192.0.2.4/32" || es[1].Category != "pool" {
		t.Errorf("%+v", es)
	}
	for in, want := range map[string]string{
		`{"entries":[{"value":"a.example","kind":"domain"},{"value":"co.uk","kind":"domain"}]}`:     "1 of 2 entries are invalid",
		`{"entries":[{"value":"a.example","kind":"domain","category":"evil"}]}`:                     `category "evil"`,
		`{"entries":[{"value":"a.example","kind":"domain"},{"value":"0.0.0.0/0","kind":"net"},{}]}`: "2 of 3 entries",
		`{"entries":[{"value":"a.example","kind":"dom`:                                              "f.json: minerguard feed JSON at byte",
	} {
		_, _, err := Parse(strings.NewReader(in), "f.json", "pool", time.Now(), 0)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
	// Hundreds of invalid entries: the first 20 named, the rest counted.
	many := `{"entries":[` + strings.Repeat(`{"value":"co.uk","kind":"domain"},`, 300) + `{"value":"a.example","kind":"domain"}]}`
	_, bad, err = Parse(strings.NewReader(many), "f.json", "pool", time.Now(), 0)
	if err == nil || len(bad) != 21 || bad[20] != "f.json: 280 more invalid entries" {
		t.Errorf("many bad: %v, %d reasons, last %q", err, len(bad), bad[len(bad)-1])
	}
	if _, _, err := Parse(strings.NewReader(good), "f.json", "pool", time.Now(), 50); !errors.Is(err, ErrTooBig) {
		t.Errorf("size cap on JSON: %v", err)
	}
}

func FuzzParseAllow(f *testing.F) {
	f.Add("a.example  # added 2026-11-02: x\n192.0.2.0/24\n")
	f.Add("#\n\n::1 # added 2026-13-40:\n")
	f.Fuzz(func(t *testing.T, s string) {
		es, err := ParseAllow([]byte(s), "fuzz")
		if err != nil {
			return
		}
		// What parses round-trips through the writer.
		dir := t.TempDir()
		st := Store{Dir: dir}
		if err := st.writeAllow(es); err != nil {
			t.Fatal(err)
		}
		back, err := st.AllowEntries()
		if err != nil || len(back) != len(es) {
			t.Fatalf("round trip: %v %d/%d", err, len(back), len(es))
		}
	})
}

func TestDecodeFeedFastPath(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, body := range []string{"a.example\nb.example\n192.0.2.0/24\n", ""} {
		var e []Entry
		if body != "" {
			e = parse(t, body)
		}
		if _, err := s.Update("fast", "x", e, now, true); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(s.feedPath("fast"))
		if err != nil {
			t.Fatal(err)
		}
		fast, ok := decodeFast(b)
		if !ok {
			t.Fatalf("the fast path does not read what marshalFeed writes:\n%s", b)
		}
		var slow Feed
		if err := json.Unmarshal(b, &slow); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*fast, slow) {
			t.Errorf("fast %+v\nslow %+v", *fast, slow)
		}
	}
}

// FuzzDecodeFeed: the hand-written reader gives exactly what
// encoding/json gives, error or not.
func FuzzDecodeFeed(f *testing.F) {
	f.Add("{\"source\":\"s\",\"from\":\"f\",\"updated\":\"2026-11-30T12:00:00Z\",\"entries\":[\n{\"value\":\"a.example\",\"kind\":\"domain\",\"category\":\"pool\",\"first_seen\":\"2026-11-30T12:00:00Z\",\"last_seen\":\"2026-11-30T12:00:00Z\"},\n{\"value\":\"192.0.2.0/24\",\"kind\":\"net\",\"category\":\"pool\",\"first_seen\":\"2026-11-30T12:00:00Z\",\"last_seen\":\"2026-11-30T12:00:00Z\"}\n]}\n")
	f.Add("{\"source\":\"s\",\"entries\":[\n]}\n")
	f.Add("{\"source\":\"s\",\"entries\":[\n{\"value\":\"a\\u0041\",\"kind\":\"domain\",\"category\":\"pool\",\"first_seen\":\"2026-11-30T12:00:00+01:00\",\"last_seen\":\"2026-11-30T12:00:00.5Z\"}\n]}")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := decodeFeed([]byte(s))
		var want Feed
		werr := json.Unmarshal([]byte(s), &want)
		if (err == nil) != (werr == nil) {
			t.Fatalf("decodeFeed err %v, json err %v", err, werr)
		}
		if err == nil && !reflect.DeepEqual(*got, want) {
			t.Fatalf("decodeFeed %+v\njson %+v", *got, want)
		}
	})
}
