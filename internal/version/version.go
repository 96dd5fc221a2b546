// Package version identifies the build.
package version

// Tool is the program name written into reports.
const Tool = "minerguard"

// Version is set at link time (-ldflags "-X .../version.Version=v1.2.3").
var Version = "0.1.0-dev"
