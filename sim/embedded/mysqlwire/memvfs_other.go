//go:build !unix

package mysqlwire

// ledgerVFS is the SQLite VFS the storage opens its file with: the
// platform's default (unix-excl exists only on Unix).
const ledgerVFS = ""

// registerMemVFS has no memory VFS to offer off Unix (it wraps unix-excl).
func registerMemVFS() string { return "" }
