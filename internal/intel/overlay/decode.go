package overlay

import (
	"bytes"
	"encoding/json"
)

// decodeFeed reads a stored feed. Feeds are written by marshalFeed, one
// entry per line in a fixed shape; those lines are read by hand (decoding
// a million-entry feed with encoding/json takes seconds, most of a scan's
// start-up with such a feed). Anything else — a hand edit, an escape in a
// string, another key order — falls back to encoding/json for the whole
// file, so the result is always what json.Unmarshal gives
// (FuzzDecodeFeed checks that).
func decodeFeed(b []byte) (*Feed, error) {
	if f, ok := decodeFast(b); ok {
		return f, nil
	}
	var f Feed
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

func decodeFast(b []byte) (*Feed, bool) {
	head, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok || !bytes.HasSuffix(head, []byte(`,"entries":[`)) {
		return nil, false
	}
	var f Feed
	// A copy: appending to head would overwrite b.
	hj := append(bytes.Clone(bytes.TrimSuffix(head, []byte("["))), "null}"...)
	if err := json.Unmarshal(hj, &f); err != nil {
		return nil, false
	}
	f.Entries = make([]Entry, 0, bytes.Count(rest, []byte("\n")))
	for {
		line, next, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			return nil, false
		}
		rest = next
		if string(line) == "]}" {
			if len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
				return nil, false
			}
			return &f, true
		}
		more := bytes.HasSuffix(line, []byte(","))
		line = bytes.TrimSuffix(line, []byte(","))
		e, ok := fastEntry(line)
		if !ok {
			return nil, false
		}
		f.Entries = append(f.Entries, e)
		// Every entry but the last ends in a comma; the last one does not.
		if next, _, _ := bytes.Cut(rest, []byte("\n")); more == (string(next) == "]}") {
			return nil, false
		}
	}
}

// fastEntry reads exactly
// {"value":"V","kind":"K","category":"C","first_seen":"T","last_seen":"T"}
// with plain printable ASCII strings (no escapes).
func fastEntry(l []byte) (Entry, bool) {
	var e Entry
	var ok bool
	var v, k, c, t1, t2 []byte
	if v, l, ok = field(l, `{"value":"`); !ok {
		return e, false
	}
	if k, l, ok = field(l, `,"kind":"`); !ok {
		return e, false
	}
	if c, l, ok = field(l, `,"category":"`); !ok {
		return e, false
	}
	if t1, l, ok = field(l, `,"first_seen":"`); !ok {
		return e, false
	}
	if t2, l, ok = field(l, `,"last_seen":"`); !ok || string(l) != "}" {
		return e, false
	}
	if e.FirstSeen.UnmarshalText(t1) != nil || e.LastSeen.UnmarshalText(t2) != nil {
		return e, false
	}
	e.Value, e.Kind, e.Category = string(v), intern(k), intern(c)
	return e, true
}

// field cuts prefix, then a string up to the closing quote.
func field(l []byte, prefix string) (val, rest []byte, ok bool) {
	l, ok = bytes.CutPrefix(l, []byte(prefix))
	if !ok {
		return nil, nil, false
	}
	for i, c := range l {
		switch {
		case c == '"':
			return l[:i], l[i+1:], true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// intern shares the few kind and category strings.
func intern(b []byte) string {
	for _, s := range [...]string{"domain", "net", "pool", "proxy", "browser-miner", "dropper"} {
		if string(b) == s {
			return s
		}
	}
	return string(b)
}
