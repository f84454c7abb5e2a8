package loopback

import (
	"net"
	"strconv"
	"testing"
)

func TestListenPicksPortsBelowTheEphemeralRange(t *testing.T) {
	lo, hi := portRange()
	if hi <= lo {
		t.Skipf("no room below the ephemeral range (starts at %d)", hi)
	}
	tests := []struct {
		name, addr string
		picked     bool // a port below the ephemeral range
	}{
		{"loopback any port", "127.0.0.1:0", true},
		{"no port", "127.0.0.1:", true},
		{"localhost", "localhost:0", true},
		{"ipv6 loopback", "[::1]:0", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := Listen(tc.addr)
			if err != nil {
				if tc.addr == "[::1]:0" {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				t.Fatalf("listen %s: %v", tc.addr, err)
			}
			defer ln.Close()
			port := ln.Addr().(*net.TCPAddr).Port
			if in := port >= lo && port < hi; in != tc.picked {
				t.Fatalf("port %d in [%d,%d) = %v, want %v", port, lo, hi, in, tc.picked)
			}
		})
	}
}

func TestListenRebindsAClosedPortAndRejectsATakenOne(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if _, err := Listen(addr); err == nil {
		t.Fatalf("a second listener on %s", addr)
	}
	ln.Close()
	again, err := Listen(addr)
	if err != nil {
		t.Fatalf("rebind %s after close: %v", addr, err)
	}
	again.Close()
	free, err := FreeAddr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	_, p, _ := net.SplitHostPort(free)
	if n, _ := strconv.Atoi(p); n == 0 {
		t.Fatalf("FreeAddr gave %s", free)
	}
}
