// Command minerguard prevents, finds and removes cryptocurrency mining.
package main

import (
	"os"

	"github.com/minerguard/minerguard/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
