// Package respond removes what a scan found, reversibly: it turns findings
// and incidents into an ordered plan of actions, applies the plan with an
// on-disk journal written before every change, and undoes a journal
// byte-for-byte.
//
// The order of a plan defeats respawn: every process of an incident is
// frozen (SIGSTOP) before any is killed, evidence is copied while they are
// frozen, persistence is removed, files are quarantined, and only then are
// the processes killed and the process table swept for anything that
// started again.
//
// Every file change follows one protocol: the original bytes go into the
// vault (fsynced), the journal records the file's full metadata and the
// vault blob (fsynced), and only then does the change happen, by an atomic
// rename. A crash at any point therefore leaves either the old file or the
// new one, and a journal entry from which undo restores the old one.
package respond
