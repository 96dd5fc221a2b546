// Command fakepoold runs internal/testkit/fakepool as a program, for scripts
// (scripts/bench-scan.sh) that need a pool for fake miners to talk to.
// It listens on loopback only and prints the logins and shares it saw when
// it gets SIGINT or SIGTERM.
//
//	fakepoold -l 127.0.0.1:3333 -l 127.0.0.1:443
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/minerguard/minerguard/internal/testkit/fakepool"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var addrs listFlag
	flag.Var(&addrs, "l", "loopback address to listen on (repeatable; default 127.0.0.1:3333)")
	flag.Parse()
	if len(addrs) == 0 {
		addrs = listFlag{"127.0.0.1:3333"}
	}
	var pools []*fakepool.Pool
	for _, a := range addrs {
		p, err := fakepool.Listen(a)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakepoold:", err)
			os.Exit(1)
		}
		pools = append(pools, p)
		fmt.Println("listening on", p.Addr())
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	<-c
	for _, p := range pools {
		for _, l := range p.Logins() {
			fmt.Printf("%s: %s login %s from %s, %d shares\n", p.Addr(), l.Dialect, l.User, l.Remote, p.Shares(l.User))
		}
		p.Close()
	}
}
