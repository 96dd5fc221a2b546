package respond

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/minerguard/minerguard/internal/atomicfile"
	"github.com/minerguard/minerguard/internal/firewall"
)

// Record types in a journal, in the order they are written.
const (
	recHeader    = "header"     // the plan and the host identity
	recBegin     = "begin"      // an action is about to change what Changes list
	recProcs     = "procs"      // processes an action signalled
	recDone      = "done"       // an action finished
	recFailed    = "failed"     // an action failed; later ones still ran
	recApplied   = "applied"    // every action ran
	recUndoBegin = "undo_begin" // undo started
	recUndone    = "undone"     // one action was undone
	recUndoEnd   = "undo_end"   // undo finished
)

// Change is one path an action changes, with its state before.
type Change struct {
	Path   string   `json:"path"` // host path
	Real   string   `json:"real"` // where it was on this machine
	Before FileMeta `json:"before"`
	// Dir is the parent directory's state, so undo can put its times and
	// flags back after the rename or unlink changed them.
	Dir FileMeta `json:"dir"`
}

// FirewallBefore is minerguard's nftables table before an action changed it.
type FirewallBefore struct {
	Existed bool             `json:"existed"`
	Rules   firewall.Ruleset `json:"rules"`
}

// Record is one line of a journal.
type Record struct {
	Seq     int       `json:"seq"`
	Type    string    `json:"type"`
	Time    time.Time `json:"time"`
	Action  int       `json:"action"`
	Plan    *Plan     `json:"plan,omitempty"`
	Changes []Change  `json:"changes,omitempty"`
	Procs   []Proc    `json:"procs,omitempty"`
	// Firewall is a firewall action's table as it was before.
	Firewall *FirewallBefore `json:"firewall,omitempty"`
	Note     string          `json:"note,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// Journal is the append-only, fsynced log of one response run.
type Journal struct {
	Dir  string // the run directory (journal, blobs, evidence)
	f    *os.File
	seq  int
	Recs []Record
}

const journalName = "journal.jsonl"

// NewRunDir makes a fresh run directory under state.
func NewRunDir(state string) (string, error) {
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	dir := filepath.Join(state, "runs", time.Now().UTC().Format("20060102T150405Z")+"-"+hex.EncodeToString(rnd[:]))
	if err := ensureDir(state); err != nil {
		return "", err
	}
	if err := ensureDir(filepath.Join(state, "runs")); err != nil {
		return "", err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", err
	}
	return dir, nil
}

// CreateJournal starts the journal of a run with its plan. The header is
// written to a temporary file and renamed into place, so a journal either
// does not exist or starts with a whole plan: a run cut at its very start
// leaves nothing that looks like a journal.
func CreateJournal(dir string, plan *Plan) (*Journal, error) {
	name := filepath.Join(dir, journalName)
	head, err := json.Marshal(Record{Seq: 1, Type: recHeader, Time: time.Now().UTC(), Action: -1, Plan: plan})
	if err != nil {
		return nil, err
	}
	tmp := name + ".new"
	if err := atomicfile.WriteSynced(tmp, append(head, '\n')); err != nil {
		return nil, err
	}
	if _, err := os.Stat(name); err == nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("%s: a journal is already there", name)
	}
	if err := os.Rename(tmp, name); err != nil {
		return nil, err
	}
	if err := atomicfile.SyncDir(dir); err != nil && !errors.Is(err, ErrUnsupported) {
		return nil, err
	}
	return OpenJournal(dir)
}

// OpenJournal reads a run's journal and opens it for appending. A torn last
// line (power lost while it was written) is dropped: the action it would
// have recorded had not started.
func OpenJournal(dir string) (*Journal, error) {
	name := filepath.Join(dir, journalName)
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	j := &Journal{Dir: dir}
	valid := 0
	for n, rest := 1, data; len(rest) > 0; n++ {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break // torn tail: the write never completed, so its action never started
		}
		var r Record
		if err := json.Unmarshal(rest[:i], &r); err != nil {
			return nil, fmt.Errorf("%s: line %d: %v", name, n, err)
		}
		j.Recs = append(j.Recs, r)
		valid += i + 1
		rest = rest[i+1:]
	}
	if len(j.Recs) == 0 || j.Recs[0].Type != recHeader || j.Recs[0].Plan == nil {
		return nil, fmt.Errorf("%s: no plan header; not a minerguard journal", name)
	}
	n := len(j.Recs[0].Plan.Actions)
	for k, r := range j.Recs[1:] {
		if r.Action < -1 || r.Action >= n {
			return nil, fmt.Errorf("%s: record %d names action %d; the plan has %d", name, k+2, r.Action, n)
		}
	}
	if valid < len(data) {
		// Cut the torn tail so appends start on a line of their own.
		if err := os.Truncate(name, int64(valid)); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	j.f = f
	j.seq = j.Recs[len(j.Recs)-1].Seq
	return j, nil
}

// Plan is the plan the journal was written for.
func (j *Journal) Plan() *Plan { return j.Recs[0].Plan }

// Append writes one record and fsyncs it: when Append returns, the record
// survives a crash.
func (j *Journal) Append(r Record) error {
	j.seq++
	r.Seq = j.seq
	r.Time = time.Now().UTC()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.Recs = append(j.Recs, r)
	return nil
}

// Close closes the journal file.
func (j *Journal) Close() error {
	if j.f == nil {
		return nil
	}
	return j.f.Close()
}

// status summarises a journal: which actions began, finished, were undone.
type status struct {
	begun   map[int][]Change
	done    map[int]bool
	undone  map[int]bool
	procs   map[int][]Proc
	fw      map[int]*FirewallBefore
	applied bool
	undoing bool
	undoEnd bool
}

func (j *Journal) status() status {
	s := status{begun: map[int][]Change{}, done: map[int]bool{}, undone: map[int]bool{}, procs: map[int][]Proc{}, fw: map[int]*FirewallBefore{}}
	for _, r := range j.Recs {
		switch r.Type {
		case recBegin:
			s.begun[r.Action] = append(s.begun[r.Action], r.Changes...)
			if r.Firewall != nil && s.fw[r.Action] == nil {
				s.fw[r.Action] = r.Firewall
			}
		case recProcs:
			s.procs[r.Action] = append(s.procs[r.Action], r.Procs...)
		case recDone, recFailed:
			s.done[r.Action] = true
		case recApplied:
			s.applied = true
		case recUndoBegin:
			s.undoing = true
		case recUndone:
			s.undone[r.Action] = true
		case recUndoEnd:
			s.undoEnd = true
		}
	}
	return s
}

// Runs lists the run directories under state, newest first.
func Runs(state string) ([]string, error) {
	es, err := os.ReadDir(filepath.Join(state, "runs"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range es {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(state, "runs", e.Name(), journalName)); err == nil {
				out = append(out, filepath.Join(state, "runs", e.Name()))
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out, nil
}
