//go:build !linux

package embedded

// memDir finds no memory-backed directory off Linux: all state goes to the
// system's temporary directory.
func memDir() (string, bool) { return "", false }
