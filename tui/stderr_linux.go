//go:build linux

package tui

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// RedirectStderr points file descriptor 2 at the file path (appending)
// until restore is called, so that libraries logging to stderr do not
// scribble over the dashboard.
func RedirectStderr(path string) (restore func() error, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("stderr: %w", err)
	}
	defer f.Close()
	saved, err := unix.Dup(2)
	if err != nil {
		return nil, fmt.Errorf("stderr: dup: %w", err)
	}
	if err := unix.Dup3(int(f.Fd()), 2, 0); err != nil {
		unix.Close(saved)
		return nil, fmt.Errorf("stderr: dup3: %w", err)
	}
	return func() error {
		defer unix.Close(saved)
		if err := unix.Dup3(saved, 2, 0); err != nil {
			return fmt.Errorf("stderr: restore: %w", err)
		}
		return nil
	}, nil
}
