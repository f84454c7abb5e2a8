// Package loopback binds the stack's loopback listeners to ports that a
// killed node can take back when it restarts.
//
// A port the kernel picks for ":0" comes from the ephemeral range, the same
// range outgoing connections draw their local ports from. While a node is
// down, a client's reconnect can land on its port, and the restart then
// fails with "address already in use". Ports picked here lie below the
// ephemeral range (ip_local_port_range), which outgoing connections never use.
package loopback

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// span is how many ports below the ephemeral range are tried.
const span = 12000

// tries bounds the random probes before falling back to a kernel port.
const tries = 64

// Listen listens on addr. When addr is a loopback host with port 0 (or no
// port), the port is a free one below the ephemeral range; any other address
// is bound as given.
func Listen(addr string) (net.Listener, error) {
	host, ok := pickable(addr)
	if !ok {
		return net.Listen("tcp", addr)
	}
	lo, hi := portRange()
	if hi <= lo {
		return net.Listen("tcp", addr)
	}
	for range tries {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(lo+rand.IntN(hi-lo))))
		if err == nil {
			return ln, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
	}
	return net.Listen("tcp", addr)
}

// FreeAddr returns a loopback address on host whose port is free now and
// lies below the ephemeral range, for a server that binds it itself (it
// should pick again if the bind then finds the port taken).
func FreeAddr(host string) (string, error) {
	ln, err := Listen(net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// pickable returns addr's host when addr asks for any port on a loopback host.
func pickable(addr string) (string, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || (port != "0" && port != "") {
		return "", false
	}
	if host == "" || host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	return host, ip != nil && ip.IsLoopback()
}

// portRange is [lo, hi): up to span ports just below the kernel's ephemeral
// range, never below 1024. Without the sysctl, Linux's default range is assumed.
func portRange() (lo, hi int) {
	hi = 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				hi = n
			}
		}
	}
	return max(hi-span, 1024), hi
}
