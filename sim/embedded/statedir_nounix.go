//go:build !unix

package embedded

// alive cannot tell off Unix, so it says yes and nothing is swept.
func alive(int) bool { return true }
