package checks

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minerguard/minerguard/internal/findings"
)

func init() {
	registerFunc(Info{
		ID:          "accounts.logins",
		Title:       "Logins: SSH brute force that succeeded, new login sources, cleared login records",
		Description: "Reads auth.log/secure (plain and rotated .gz), wtmp, btmp, utmp and lastlog: a successful login from an address that failed many times before is how mining botnets get in; emptied or inconsistent login records are how they cover it.",
		Needs:       NeedsFS,
		Default:     true,
	}, checkLogins)
}

// UtmpSize is sizeof(struct utmp) on x86_64 and arm64 Linux (glibc and
// musl): 32-bit time fields keep it the same on both.
const UtmpSize = 384

// utmp ut_type values.
const (
	utmpBootTime    = 2
	utmpUserProcess = 7
	utmpMaxType     = 9
)

// UtmpRecord is one struct utmp.
type UtmpRecord struct {
	Type                 int16
	PID                  int32
	Line, ID, User, Host string
	Time                 time.Time
	Addr                 netip.Addr
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// ParseUtmp decodes utmp/wtmp/btmp records. Records with an impossible type
// are skipped and a trailing partial record is dropped; both are reported
// in the error, which never stops the good records from being returned.
func ParseUtmp(b []byte) ([]UtmpRecord, error) {
	var out []UtmpRecord
	var errs []error
	bad, firstBad := 0, -1
	n := len(b) / UtmpSize
	for i := 0; i < n; i++ {
		r := b[i*UtmpSize : (i+1)*UtmpSize]
		typ := int16(binary.LittleEndian.Uint16(r[0:]))
		if typ < 0 || typ > utmpMaxType {
			bad++
			if firstBad < 0 {
				firstBad = i * UtmpSize
			}
			continue
		}
		rec := UtmpRecord{
			Type: typ,
			PID:  int32(binary.LittleEndian.Uint32(r[4:])),
			Line: cString(r[8:40]),
			ID:   cString(r[40:44]),
			User: cString(r[44:76]),
			Host: cString(r[76:332]),
			Time: time.Unix(int64(int32(binary.LittleEndian.Uint32(r[340:]))), int64(int32(binary.LittleEndian.Uint32(r[344:])))*1000).UTC(),
		}
		a := r[348:364]
		if bytes.Count(a[4:], []byte{0}) == 12 {
			rec.Addr = netip.AddrFrom4([4]byte(a[:4]))
		} else {
			rec.Addr = netip.AddrFrom16([16]byte(a))
		}
		if rec.Addr.IsUnspecified() {
			rec.Addr = netip.Addr{}
		}
		out = append(out, rec)
	}
	if bad > 0 {
		errs = append(errs, fmt.Errorf("%d corrupt record(s) skipped (first at offset %d)", bad, firstBad))
	}
	if rest := len(b) % UtmpSize; rest != 0 {
		errs = append(errs, fmt.Errorf("truncated: %d trailing bytes at offset %d", rest, n*UtmpSize))
	}
	return out, errors.Join(errs...)
}

// maxUtmpBytes and maxAuthLogBytes bound what is read of each log.
const (
	maxUtmpBytes    = 32 << 20
	maxAuthLogBytes = 16 << 20
	maxAuthLogGz    = 64 << 20 // compressed bytes read of a rotated log
	maxAuthLogFiles = 12
	lastlogSize     = 292
)

// readUtmp reads the newest records of a utmp-format file (at most
// maxUtmpBytes, on record boundaries). full says nothing was left out.
func readUtmp(env *Env, name string) (recs []UtmpRecord, size int64, full bool, err error) {
	f, err := env.Host.FS().Open(name) // RootFS refuses FIFOs and devices
	if err != nil {
		return nil, 0, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, false, err
	}
	size = st.Size()
	start := int64(0)
	if size > maxUtmpBytes {
		start = (size - maxUtmpBytes + UtmpSize - 1) / UtmpSize * UtmpSize
	}
	b := make([]byte, size-start)
	if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
		return nil, size, false, fmt.Errorf("%s: %w", name, err)
	}
	recs, perr := ParseUtmp(b)
	if perr != nil {
		perr = fmt.Errorf("%s: %w", name, perr)
	}
	return recs, size, start == 0, perr
}

// AuthEvent is one sshd authentication outcome from a text log.
type AuthEvent struct {
	Time    time.Time // zero when the line's timestamp did not parse
	Success bool
	User    string
	Addr    string
	Method  string
	Line    int
	Text    string
	Count   int // "message repeated N times" folds N attempts into one line
}

var (
	syslogTime  = regexp.MustCompile(`^([A-Z][a-z]{2} [ 0-9]\d \d{2}:\d{2}:\d{2}) `)
	isoTime     = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))\s`)
	sshdTag     = regexp.MustCompile(`\ssshd(?:-session)?\[\d+\]:\s(.*)$`)
	repeated    = regexp.MustCompile(`^message repeated (\d+) times: \[\s*(.*?)\s*\]$`)
	failedRE    = regexp.MustCompile(`^Failed (password|keyboard-interactive/pam|none) for (invalid user )?(.*?) from (\S+) port \d+`)
	invalidRE   = regexp.MustCompile(`^Invalid user (.*?) from (\S+)(?: port \d+)?\s*$`)
	acceptedRE  = regexp.MustCompile(`^Accepted (\S+) for (\S+) from (\S+) port \d+`)
	authLogBase = []string{"/var/log/auth.log", "/var/log/secure"}
)

// ParseAuthLog extracts sshd authentication outcomes from auth.log/secure
// text. ref dates syslog timestamps, which carry no year: the year is the
// one that puts the line at or before ref. An "Invalid user" line and the
// "Failed password for invalid user" line of the same attempt count once.
func ParseAuthLog(text string, ref time.Time) []AuthEvent {
	var out []AuthEvent
	pending := map[string]int{} // invalid-user lines awaiting their Failed line, per address
	for i, l := range strings.Split(text, "\n") {
		m := sshdTag.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		msg, count := m[1], 1
		if r := repeated.FindStringSubmatch(msg); r != nil {
			if n, err := strconv.Atoi(r[1]); err == nil && n > 0 && n < 1<<20 {
				msg, count = r[2], n
			}
		}
		ev := AuthEvent{Line: i + 1, Text: l, Count: count, Time: authLineTime(l, ref)}
		switch {
		case failedRE.MatchString(msg):
			f := failedRE.FindStringSubmatch(msg)
			ev.Method, ev.User, ev.Addr = f[1], f[3], f[4]
			if f[2] != "" && pending[ev.Addr] > 0 {
				pending[ev.Addr]--
				continue
			}
		case invalidRE.MatchString(msg):
			f := invalidRE.FindStringSubmatch(msg)
			ev.User, ev.Addr, ev.Method = f[1], f[2], "invalid user"
			pending[ev.Addr] += count
		case acceptedRE.MatchString(msg):
			f := acceptedRE.FindStringSubmatch(msg)
			ev.Success, ev.Method, ev.User, ev.Addr = true, f[1], f[2], f[3]
		default:
			continue
		}
		out = append(out, ev)
	}
	return out
}

func authLineTime(l string, ref time.Time) time.Time {
	if m := isoTime.FindStringSubmatch(l); m != nil {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-0700"} {
			if t, err := time.Parse(layout, m[1]); err == nil {
				return t.UTC()
			}
		}
		return time.Time{}
	}
	m := syslogTime.FindStringSubmatch(l)
	if m == nil || ref.IsZero() {
		return time.Time{}
	}
	t, err := time.ParseInLocation("Jan _2 15:04:05 2006", m[1]+" "+strconv.Itoa(ref.Year()), time.UTC)
	if err != nil {
		return time.Time{}
	}
	if t.After(ref.Add(24 * time.Hour)) {
		t = t.AddDate(-1, 0, 0)
	}
	return t
}

// authLogFiles lists base's rotations oldest first: base.N(.gz) by falling
// N, base-DATE(.gz) by date, then base itself.
func authLogFiles(env *Env, base string) []string {
	dir, name := "/var/log", strings.TrimPrefix(base, "/var/log/")
	es, err := env.Host.FS().ReadDir(dir)
	if err != nil {
		return nil
	}
	type rot struct {
		path string
		key  string
	}
	var rots []rot
	for _, e := range es {
		n := e.Name()
		suf, ok := strings.CutPrefix(n, name)
		if !ok || e.IsDir() {
			continue
		}
		suf = strings.TrimSuffix(suf, ".gz")
		switch {
		case suf == "":
			if n == name {
				continue // the live file goes last
			}
		case strings.HasPrefix(suf, "."):
			num, err := strconv.Atoi(suf[1:])
			if err != nil {
				continue
			}
			rots = append(rots, rot{dir + "/" + n, fmt.Sprintf("0%09d", 1_000_000_000-num)})
			continue
		case strings.HasPrefix(suf, "-"):
			rots = append(rots, rot{dir + "/" + n, "1" + suf})
			continue
		default:
			continue
		}
	}
	sort.Slice(rots, func(i, j int) bool { return rots[i].key < rots[j].key })
	var out []string
	for _, r := range rots {
		out = append(out, r.path)
	}
	if len(out) > maxAuthLogFiles-1 {
		out = out[len(out)-(maxAuthLogFiles-1):]
	}
	return append(out, base)
}

// readAuthLog reads the newest maxAuthLogBytes of a plain or gzipped log
// (whole lines). partial says what was left out, for a warning: the
// newest events matter most, and a regulator's record must say when older
// ones were not read.
func readAuthLog(env *Env, name string) (text string, mtime time.Time, partial error, err error) {
	f, err := env.Host.FS().Open(name) // RootFS refuses FIFOs and devices
	if err != nil {
		return "", time.Time{}, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", time.Time{}, nil, err
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(io.LimitReader(f, maxAuthLogGz))
		if err != nil {
			return "", st.ModTime(), nil, fmt.Errorf("%s: %w", name, err)
		}
		b, total, err := tail(zr, maxAuthLogBytes)
		if err != nil && len(b) == 0 {
			return "", st.ModTime(), nil, fmt.Errorf("%s: %w", name, err)
		}
		switch {
		case st.Size() > maxAuthLogGz:
			partial = fmt.Errorf("%s: only the first %d MiB of %d MiB compressed read", name, maxAuthLogGz>>20, st.Size()>>20)
		case err != nil:
			partial = fmt.Errorf("%s: read up to a damaged part (%v)", name, err)
		case total > int64(len(b)):
			partial = fmt.Errorf("%s: only the last %d MiB of %d MiB read", name, maxAuthLogBytes>>20, total>>20)
		}
		return string(b), st.ModTime(), partial, nil
	}
	start := max(0, st.Size()-maxAuthLogBytes)
	b := make([]byte, st.Size()-start)
	n, err := f.ReadAt(b, start)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", st.ModTime(), nil, fmt.Errorf("%s: %w", name, err)
	}
	b = b[:n]
	if start > 0 {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
		partial = fmt.Errorf("%s: only the last %d MiB of %d MiB read", name, maxAuthLogBytes>>20, st.Size()>>20)
	}
	return string(b), st.ModTime(), partial, nil
}

// tail reads r to its end keeping the last max bytes from a line start;
// total is how many bytes r had. A read error ends it with what was read.
func tail(r io.Reader, max int64) (b []byte, total int64, err error) {
	buf := make([]byte, 0, min(max, 1<<20))
	chunk := make([]byte, 256<<10)
	for {
		n, rerr := r.Read(chunk)
		total += int64(n)
		buf = append(buf, chunk[:n]...)
		if int64(len(buf)) > 2*max {
			buf = append(buf[:0], buf[int64(len(buf))-max:]...)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	if int64(len(buf)) > max {
		buf = buf[int64(len(buf))-max:]
	}
	if total > int64(len(buf)) {
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[i+1:] // the first line is cut
		}
	}
	return buf, total, err
}

// loginEvent is a success or failure from any source, in order.
type loginEvent struct {
	AuthEvent
	source string // file
	seq    int    // order within text logs
	text   bool   // from a text log (seq is meaningful)
}

// before says whether f happened before s: by time when both have one,
// else by position when both come from the text logs.
func before(f, s loginEvent) bool {
	if !f.Time.IsZero() && !s.Time.IsZero() {
		return !f.Time.After(s.Time)
	}
	if f.text && s.text {
		return f.seq < s.seq
	}
	return true
}

func localAddr(a string) bool {
	if a == "" || strings.HasPrefix(a, ":") || a == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(a)
	return err == nil && ip.IsLoopback()
}

func checkLogins(_ context.Context, env *Env) ([]findings.Finding, error) {
	ai, err := loadAccountsIntel(env)
	if err != nil {
		return nil, err
	}
	var warns []error
	var out []findings.Finding
	var events []loginEvent
	seq := 0
	for _, base := range authLogBase {
		for _, name := range authLogFiles(env, base) {
			text, mtime, partial, err := readAuthLog(env, name)
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					warns = append(warns, err)
				}
				continue
			}
			if partial != nil {
				warns = append(warns, partial)
			}
			ref := mtime
			if ref.IsZero() || ref.After(env.Now) {
				ref = env.Now
			}
			for _, e := range ParseAuthLog(text, ref) {
				seq++
				events = append(events, loginEvent{AuthEvent: e, source: name, seq: seq, text: true})
			}
		}
	}

	// Binary records. wtmp's earliest record bounds what it covers.
	var wtmpRecs []UtmpRecord
	wtmpFull := true
	var wtmpStart time.Time
	wtmpSize, wtmpExists := int64(-1), false
	var wtmpMtime time.Time
	for _, name := range []string{"/var/log/wtmp.1", "/var/log/wtmp"} {
		recs, size, full, err := readUtmp(env, name)
		if err != nil && recs == nil && size == 0 && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			warns = append(warns, err)
		}
		wtmpFull = wtmpFull && full
		if name == "/var/log/wtmp" {
			wtmpExists, wtmpSize = true, size
			if st, err := env.Host.FS().Stat(name); err == nil {
				wtmpMtime = st.ModTime()
			}
		}
		for _, r := range recs {
			if r.Time.Unix() > 0 && (wtmpStart.IsZero() || r.Time.Before(wtmpStart)) {
				wtmpStart = r.Time
			}
			wtmpRecs = append(wtmpRecs, r)
			if r.Type == utmpUserProcess && r.User != "" && !localAddr(r.Host) {
				events = append(events, loginEvent{AuthEvent: AuthEvent{Time: r.Time, Success: true, User: r.User, Addr: r.Host, Method: "wtmp " + r.Line, Count: 1}, source: name})
			}
		}
	}
	var btmpFails []loginEvent
	for _, name := range []string{"/var/log/btmp.1", "/var/log/btmp"} {
		recs, _, _, err := readUtmp(env, name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			warns = append(warns, err)
		}
		for _, r := range recs {
			if r.Host == "" || localAddr(r.Host) {
				continue
			}
			btmpFails = append(btmpFails, loginEvent{AuthEvent: AuthEvent{Time: r.Time, User: r.User, Addr: r.Host, Method: "btmp", Count: 1}, source: name})
		}
	}
	// utmp holds the sessions open now: logins too recent for any rotation.
	recs, _, _, err := readUtmp(env, "/var/run/utmp")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		warns = append(warns, err)
	}
	for _, r := range recs {
		if r.Type == utmpUserProcess && r.User != "" && !localAddr(r.Host) {
			events = append(events, loginEvent{AuthEvent: AuthEvent{Time: r.Time, Success: true, User: r.User, Addr: r.Host, Method: "utmp " + r.Line, Count: 1}, source: "/var/run/utmp"})
		}
	}

	// Brute force that succeeded: per success, the failures before it from
	// the same address in the text logs and in btmp (which record the same
	// attempts, so the larger count is taken, not the sum).
	reported := map[string]bool{}
	var successes []loginEvent
	for _, e := range events {
		if e.Success && !localAddr(e.Addr) {
			successes = append(successes, e)
		}
	}
	sort.SliceStable(successes, func(i, j int) bool { return before(successes[i], successes[j]) && !before(successes[j], successes[i]) })
	// Failures grouped by address keep this linear in the log size on
	// busy hosts with thousands of logins.
	textBy, btmpBy := map[string][]loginEvent{}, map[string][]loginEvent{}
	for _, f := range events {
		if !f.Success {
			textBy[f.Addr] = append(textBy[f.Addr], f)
		}
	}
	for _, f := range btmpFails {
		btmpBy[f.Addr] = append(btmpBy[f.Addr], f)
	}
	for _, s := range successes {
		if reported[s.Addr] || len(textBy[s.Addr])+len(btmpBy[s.Addr]) == 0 {
			continue
		}
		textFails, btmpN := 0, 0
		for _, f := range textBy[s.Addr] {
			if before(f, s) {
				textFails += f.Count
			}
		}
		for _, f := range btmpBy[s.Addr] {
			if before(f, s) {
				btmpN++
			}
		}
		fails := max(textFails, btmpN)
		if fails < ai.BruteForceFailures {
			continue
		}
		reported[s.Addr] = true
		ev := findings.Evidence{Path: s.source, Line: s.Line, Content: Printable(s.Text, 512), User: Printable(s.User, 64), SrcIP: Printable(s.Addr, 64),
			Details: map[string]string{"failures_before": strconv.Itoa(fails), "method": Printable(s.Method, 64)}}
		if !s.Time.IsZero() {
			t := s.Time
			ev.LastSeen = &t
		}
		out = append(out, findings.Finding{Rule: "accounts.logins.bruteforce_success", Severity: findings.High, Signal: findings.SignalAccount,
			Title:       fmt.Sprintf("%s logged in as %s after %d failed attempts from the same address", Printable(s.Addr, 64), Printable(s.User, 64), fails),
			Description: "Many failed logins followed by a success from one address is a password that was guessed: how SSH-scanning mining botnets take hosts.",
			Evidence:    ev, Remediation: "Treat the account as compromised: change its password, remove unknown authorized_keys, review what ran after the login, block the address, disable password logins.", Confidence: 0.85})
	}

	// A login source first seen a day or more after the first recorded
	// login is new: the day before it is the baseline of known sources.
	var windowStart time.Time
	for _, e := range successes {
		if !e.Time.IsZero() && (windowStart.IsZero() || e.Time.Before(windowStart)) {
			windowStart = e.Time
		}
	}
	firstOK := map[string]loginEvent{}
	for _, s := range successes {
		if f, ok := firstOK[s.Addr]; !ok || before(s, f) && !before(f, s) {
			firstOK[s.Addr] = s
		}
	}
	addrs := make([]string, 0, len(firstOK))
	for a := range firstOK {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		s := firstOK[a]
		if reported[a] || s.Time.IsZero() || windowStart.IsZero() || s.Time.Sub(windowStart) < 24*time.Hour {
			continue
		}
		t := s.Time
		out = append(out, findings.Finding{Rule: "accounts.logins.new_source", Severity: findings.Low, Signal: findings.SignalAccount,
			Title:       fmt.Sprintf("First login from %s (as %s) in the logs' window", Printable(a, 64), Printable(s.User, 64)),
			Description: fmt.Sprintf("No login from this address is recorded between %s and %s. New sources are normal for travelling users and new staff; check it if the account was not expecting one.", windowStart.UTC().Format("2006-01-02"), s.Time.UTC().Format("2006-01-02")),
			Evidence:    findings.Evidence{Path: s.source, Line: s.Line, Content: Printable(s.Text, 512), User: Printable(s.User, 64), SrcIP: Printable(a, 64), FirstSeen: &t},
			Confidence:  0.3})
	}

	out = append(out, loginIntegrity(env, ai, events, wtmpRecs, wtmpStart, wtmpExists, wtmpSize, wtmpMtime, wtmpFull, &warns)...)
	return out, Warn(warns...)
}

func integrity(rule, title, desc, p string, details map[string]string) findings.Finding {
	return findings.Finding{Rule: rule, Severity: findings.Medium, Signal: findings.SignalIntegrity, Title: title, Description: desc,
		Evidence:    findings.Evidence{Path: p, Details: details},
		Remediation: "Compare with remote or journald copies of the logs; an intruder who cleaned login records was here — look for what else changed at that time.",
		Confidence:  0.6}
}

func loginIntegrity(env *Env, ai *accountsIntel, events []loginEvent, wtmp []UtmpRecord, wtmpStart time.Time, wtmpExists bool, wtmpSize int64, wtmpMtime time.Time, wtmpFull bool, warns *[]error) []findings.Finding {
	var out []findings.Finding
	var textOK []loginEvent
	for _, e := range events {
		if e.text && e.Success && !e.Time.IsZero() {
			textOK = append(textOK, e)
		}
	}
	if _, err := env.Host.FS().Stat("/var/lib/wtmpdb/wtmp.db"); err == nil {
		// Newer distributions (Debian 13) log logins to wtmpdb; a wtmp left
		// from before the upgrade is stale, not cleared.
		wtmpExists = false
	}
	if wtmpExists && wtmpSize == 0 {
		for _, e := range textOK {
			if e.Time.After(wtmpMtime.Add(time.Minute)) {
				out = append(out, integrity("accounts.logins.wtmp_cleared", "/var/log/wtmp is empty although logins were logged since",
					fmt.Sprintf("%s:%d records a login at %s, after wtmp was last written (%s), yet wtmp holds no record.", e.source, e.Line, e.Time.UTC().Format(time.RFC3339), wtmpMtime.UTC().Format(time.RFC3339)),
					"/var/log/wtmp", map[string]string{"login": fmt.Sprintf("%s:%d", e.source, e.Line)}))
				break
			}
		}
	} else if wtmpExists && !wtmpStart.IsZero() && wtmpFull {
		for _, e := range textOK {
			if e.Time.Add(time.Hour).Before(wtmpStart) {
				out = append(out, integrity("accounts.logins.wtmp_truncated", "wtmp starts after logins that auth logs record",
					fmt.Sprintf("%s:%d records a login at %s, but the oldest wtmp record is from %s: older wtmp records were removed.", e.source, e.Line, e.Time.UTC().Format(time.RFC3339), wtmpStart.UTC().Format(time.RFC3339)),
					"/var/log/wtmp", map[string]string{"login": fmt.Sprintf("%s:%d", e.source, e.Line), "wtmp_start": wtmpStart.UTC().Format(time.RFC3339)}))
				break
			}
		}
	}
	// lastlog knows a user's last login; wtmp should hold it too.
	if wtmpExists && wtmpFull {
		start := wtmpStart
		if start.IsZero() {
			start = wtmpMtime
		}
		if f, err := env.Host.FS().Open("/var/log/lastlog"); err == nil {
			if pb, _, err := readText(env, "/etc/passwd"); err == nil {
				users, _ := ParsePasswd(pb, "/etc/passwd")
				for _, u := range users {
					rec := make([]byte, lastlogSize)
					if n, _ := f.ReadAt(rec, int64(u.UID)*lastlogSize); n != lastlogSize {
						continue
					}
					t := time.Unix(int64(int32(binary.LittleEndian.Uint32(rec))), 0).UTC()
					if t.Unix() <= 0 || !t.After(start.Add(time.Minute)) || t.After(env.Now.Add(time.Hour)) {
						continue
					}
					found := false
					for _, r := range wtmp {
						if r.Type == utmpUserProcess && r.User == u.Name && r.Time.Sub(t).Abs() <= 2*time.Minute {
							found = true
							break
						}
					}
					if !found {
						out = append(out, integrity("accounts.logins.lastlog_mismatch", fmt.Sprintf("Last login of %s is missing from wtmp", Printable(u.Name, 64)),
							fmt.Sprintf("lastlog says %s last logged in at %s (from %s), within wtmp's period, but wtmp has no such login: records were removed.", Printable(u.Name, 64), t.Format(time.RFC3339), Printable(cString(rec[36:]), 64)),
							"/var/log/lastlog", map[string]string{"user": Printable(u.Name, 64), "last_login": t.Format(time.RFC3339)}))
					}
				}
			}
			f.Close()
		}
	}
	// Auth logs that rsyslog should write but are missing or emptied.
	conf := map[string]string{}
	for _, c := range rsyslogConfigs(env) {
		if b, _, err := readText(env, c); err == nil {
			for _, base := range authLogBase {
				if strings.Contains(string(b), base) {
					conf[base] = c
				}
			}
		}
	}
	for _, base := range authLogBase {
		st, err := env.Host.FS().Stat(base)
		switch {
		case err != nil && errors.Is(err, fs.ErrNotExist):
			if c, ok := conf[base]; ok {
				out = append(out, integrity("accounts.logins.log_missing", fmt.Sprintf("%s is missing although rsyslog writes it", base),
					fmt.Sprintf("%s sends authentication messages to %s, which does not exist: it was deleted.", c, base), base, map[string]string{"config": c}))
			}
		case err != nil:
			*warns = append(*warns, err)
		case conf[base] != "" && st.Mode().IsRegular() && st.Size() == 0 && ai.EmptyLogGraceHours > 0 && env.Now.Sub(st.ModTime()) > time.Duration(ai.EmptyLogGraceHours)*time.Hour:
			// Only a log some syslog daemon still writes can be "emptied";
			// a leftover from before journald-only logging is just old.
			out = append(out, integrity("accounts.logins.log_empty", fmt.Sprintf("%s is empty and has not been written for %d hours", base, int(env.Now.Sub(st.ModTime()).Hours())),
				fmt.Sprintf("%s sends authentication messages here, and cron sessions, sudo and sshd write some every hour on a running system; an empty log this old was truncated.", conf[base]), base, map[string]string{"config": conf[base]}))
		}
	}
	return out
}

func rsyslogConfigs(env *Env) []string {
	out := []string{"/etc/rsyslog.conf", "/etc/syslog.conf", "/etc/syslog-ng/syslog-ng.conf"}
	if es, err := env.Host.FS().ReadDir("/etc/rsyslog.d"); err == nil {
		for _, e := range es {
			if strings.HasSuffix(e.Name(), ".conf") {
				out = append(out, "/etc/rsyslog.d/"+e.Name())
			}
		}
	}
	return out
}
