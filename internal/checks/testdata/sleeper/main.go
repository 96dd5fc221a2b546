// Command sleeper is a test helper: a harmless process that can wear the
// disguises miners use (renamed comm, memfd executable) so the disguise
// checks are tested against real kernel state rather than fixtures.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	name := flag.String("name", "", "set comm (what prctl(PR_SET_NAME) sets)")
	memfd := flag.String("memfd", "", "copy this binary into a memfd with this name and re-exec from it")
	seal := flag.Bool("seal", false, "write-seal the memfd before exec, as runc does with its cloned binary")
	flag.Parse()
	if *memfd != "" {
		reexecMemfd(*memfd, *seal)
	}
	if *name != "" {
		// /proc/self/comm is the thread-group leader's comm, the one ps
		// shows; prctl would rename whichever OS thread this goroutine is on.
		if err := os.WriteFile("/proc/self/comm", []byte(*name), 0); err != nil {
			fatal(err)
		}
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
}

func reexecMemfd(name string, seal bool) {
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		fatal(err)
	}
	fd, err := unix.MemfdCreate(name, unix.MFD_ALLOW_SEALING)
	if err != nil {
		fatal(err)
	}
	if _, err := unix.Write(fd, self); err != nil {
		fatal(err)
	}
	if seal {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_WRITE|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
			fatal(err)
		}
	}
	// Drop -memfd so the new image does not loop; keep argv[0] as given.
	args := []string{os.Args[0]}
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "memfd" && f.Name != "seal" {
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	fatal(unix.Exec(fmt.Sprintf("/proc/self/fd/%d", fd), args, os.Environ()))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "sleeper:", err)
	os.Exit(1)
}
