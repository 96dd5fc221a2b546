// Package checks holds every host check, one per file. Each file's init()
// registers its check here (node_exporter's collector pattern); the
// registry is written only during program initialisation and read-only
// afterwards, so adding a check touches only its own file and tests.
package checks

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/minerguard/minerguard/internal/findings"
)

// Needs says what a check reads, so the engine can skip it where that is
// missing (no /proc on an offline disk) and order it after CPU sampling.
type Needs uint8

// Needs flags.
const (
	NeedsFS   Needs = 1 << iota // the root filesystem
	NeedsProc                   // a live process table
	NeedsCPU                    // CPU percentages from the sample window
)

// Info describes a check.
type Info struct {
	ID          string
	Title       string
	Description string
	Needs       Needs
	// Default says whether the check runs without being asked for.
	Default bool
}

// Check inspects the host and returns findings.
type Check interface {
	Info() Info
	Run(ctx context.Context, env *Env) ([]findings.Finding, error)
}

var registry = map[string]Check{}

// Register adds a check; it is called from init() and panics on a
// duplicate id, which is a programming error caught by every test run.
func Register(c Check) {
	id := c.Info().ID
	if id == "" {
		panic("checks: empty id")
	}
	if _, dup := registry[id]; dup {
		panic(fmt.Sprintf("checks: %q registered twice", id))
	}
	registry[id] = c
}

// All returns every registered check sorted by id.
func All() []Check {
	out := make([]Check, 0, len(registry))
	for _, c := range registry {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Info().ID < out[j].Info().ID })
	return out
}

// Lookup returns the check with id.
func Lookup(id string) (Check, bool) {
	c, ok := registry[id]
	return c, ok
}

// funcCheck adapts a function to Check.
type funcCheck struct {
	info Info
	run  func(ctx context.Context, env *Env) ([]findings.Finding, error)
}

func (f funcCheck) Info() Info { return f.info }

func (f funcCheck) Run(ctx context.Context, env *Env) ([]findings.Finding, error) {
	return f.run(ctx, env)
}

// registerFunc registers a check made of an Info and a function.
func registerFunc(info Info, run func(ctx context.Context, env *Env) ([]findings.Finding, error)) {
	Register(funcCheck{info: info, run: run})
}

// ErrSkipped is returned (wrapped with a reason) by a check that could not
// look at anything on this host, such as the GPU check without a driver.
var ErrSkipped = errors.New("skipped")

// Skipped returns ErrSkipped with a reason.
func Skipped(reason string) error { return fmt.Errorf("%w: %s", ErrSkipped, reason) }

// Warnings carries problems a check met on the way (a malformed line, an
// unreadable file) while it still looked at everything else: the engine
// reports them as warnings and the check as "ok", not "error".
type Warnings []error

func (w Warnings) Error() string { return errors.Join(w...).Error() }

// Unwrap exposes the individual warnings to errors.Is/As.
func (w Warnings) Unwrap() []error { return w }

// Warn returns the non-nil errors as Warnings, or nil when there are none.
func Warn(errs ...error) error {
	var w Warnings
	for _, e := range errs {
		if e != nil {
			w = append(w, e)
		}
	}
	if len(w) == 0 {
		return nil
	}
	return w
}
