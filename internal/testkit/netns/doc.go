// Package netns makes throwaway network namespaces joined by veth pairs
// for tests (Linux, root): firewall changes and test traffic stay inside
// them and never touch the machine's own network.
package netns
