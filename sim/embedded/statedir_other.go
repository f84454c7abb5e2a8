//go:build !linux

package embedded

// memDir finds no memory-backed directory off Linux: state goes to the
// system's temporary directory.
func memDir() (string, bool) { return "", false }

// alive is never asked off Linux (nothing is swept there).
func alive(int) bool { return true }
