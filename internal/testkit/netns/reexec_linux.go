package netns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// mainArgsEnv carries a command line to the test binary started again
// inside a namespace.
const mainArgsEnv = "MINERGUARD_NETNS_MAIN_ARGS"

// TestMain serves as a package's TestMain: started by Command, the test
// binary runs main with the command line it was given (a real process in
// the namespace, as the tool runs); started by go test, it runs the tests.
func TestMain(m *testing.M, main func(args []string) int) {
	if a, ok := os.LookupEnv(mainArgsEnv); ok {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", mainArgsEnv, err)
			os.Exit(99)
		}
		os.Exit(main(args))
	}
	os.Exit(m.Run())
}

// Command starts the test binary again inside n to run the main given to
// TestMain with args; wrap, if any, is a program and its arguments that
// run it (setpriv to drop a capability).
func (n *NS) Command(args []string, wrap ...string) *exec.Cmd {
	b, _ := json.Marshal(args)
	argv := append(append([]string{}, wrap...), os.Args[0], "-test.run=^$")
	cmd := n.Exec(context.Background(), argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), mainArgsEnv+"="+string(b))
	return cmd
}

// Run runs Command(args) with env added to the environment and returns
// its exit status and output (stdout and stderr together).
func (n *NS) Run(t testing.TB, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := n.Command(args)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return 0, string(out)
}
