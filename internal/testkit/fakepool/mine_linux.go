package fakepool

import (
	"context"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// MineUntil runs miner (a fake miner's command, not yet started) in a
// process group of its own until the pool has n shares from user or
// timeout passes, then kills the group, so no child outlives the test.
func (p *Pool) MineUntil(miner *exec.Cmd, user string, n int, timeout time.Duration) error {
	if miner.SysProcAttr == nil {
		miner.SysProcAttr = &syscall.SysProcAttr{}
	}
	miner.SysProcAttr.Setpgid = true
	if err := miner.Start(); err != nil {
		return fmt.Errorf("start miner: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := p.WaitShares(ctx, user, n)
	syscall.Kill(-miner.Process.Pid, syscall.SIGKILL)
	miner.Wait()
	if err != nil {
		return fmt.Errorf("miner never submitted: %w", err)
	}
	return nil
}
