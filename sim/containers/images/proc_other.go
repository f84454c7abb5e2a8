//go:build !linux

package images

import (
	"fmt"
	"os"
	"os/exec"
)

// killGroup leaves cmd as is: debootstrap runs on Linux only.
func killGroup(*exec.Cmd) {}

// removeRoot removes a work directory.
func removeRoot(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	return nil
}
