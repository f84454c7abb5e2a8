//go:build !unix

package mysqlwire

// registerMemVFS has no memory VFS to offer off Unix (it wraps unix-excl).
func registerMemVFS() string { return "" }

func releaseMemFile(string) {}
