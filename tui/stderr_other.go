//go:build !linux

package tui

// RedirectStderr is a no-op where file descriptors cannot be swapped the
// Linux way; stray stderr output may then show through the dashboard.
func RedirectStderr(path string) (restore func() error, err error) {
	return func() error { return nil }, nil
}
