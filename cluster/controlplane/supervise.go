package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// child is a component "up" runs as its own process: its own process group (a Ctrl-C in the
// terminal reaches only "up", which stops the children in order) and Pdeathsig, so it is
// killed if "up" dies without stopping it.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startChild runs path with args, its stdout and stderr appended to logPath.
func startChild(name, logPath string, env []string, path string, args ...string) (*child, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// failure describes an early exit, pointing at the log.
func (c *child) failure() error {
	return fmt.Errorf("%s exited (%v); its log: %s", c.name, c.err, c.log)
}

// stop sends SIGTERM and waits up to grace, then SIGKILLs; it returns how long it took.
func (c *child) stop(grace time.Duration) time.Duration {
	start := time.Now()
	if c == nil || c.exited() {
		return 0
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	return time.Since(start)
}

// waitFor polls check every 200 ms until it returns nil, the child exits or timeout passes.
func (c *child) waitFor(timeout time.Duration, what string, check func() error) error {
	deadline := time.Now().Add(timeout)
	last := fmt.Errorf("not checked yet")
	for time.Now().Before(deadline) {
		if c != nil && c.exited() {
			return c.failure()
		}
		if last = check(); last == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	name := "node"
	if c != nil {
		name, what = c.name, what+" (log: "+c.log+")"
	}
	return fmt.Errorf("timeout after %s waiting for %s %s: %v", timeout, name, what, last)
}
