package redisnode

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRepliesKeepOrderAndSurviveClose: batched replies arrive complete and
// in order, the reply to QUIT is sent before the connection closes, and a
// client that never reads cannot hold up a kill.
func TestRepliesKeepOrderAndSurviveClose(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, n *Node)
	}{
		{"pipeline of 500 INCRs answers 1..500 in order", func(t *testing.T, n *Node) {
			c := newClient(t, n)
			pipe := c.Pipeline()
			for range 500 {
				pipe.Incr(t.Context(), "ctr")
			}
			cmds, err := pipe.Exec(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for i, cmd := range cmds {
				if got, _ := cmd.(interface{ Val() int64 }); got == nil || got.Val() != int64(i+1) {
					t.Fatalf("reply %d: %v, want %d", i, cmd, i+1)
				}
			}
		}},
		{"QUIT gets +OK before the close", func(t *testing.T, n *Node) {
			conn := dialRaw(t, n)
			if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nQUIT\r\n")); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(conn)
			for _, want := range []string{"+PONG", "+OK"} {
				line, err := r.ReadString('\n')
				if err != nil || strings.TrimSpace(line) != want {
					t.Fatalf("got %q (%v), want %s", line, err, want)
				}
			}
			if _, err := r.ReadByte(); err == nil {
				t.Fatal("connection still open after QUIT")
			}
		}},
		{"a client that does not read cannot block a kill", func(t *testing.T, n *Node) {
			c := newClient(t, n)
			if err := c.Set(t.Context(), "big", strings.Repeat("x", 1<<20), 0).Err(); err != nil {
				t.Fatal(err)
			}
			conn := dialRaw(t, n)
			var req strings.Builder
			for range 64 {
				req.WriteString("*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n")
			}
			if _, err := conn.Write([]byte(req.String())); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			killed := make(chan struct{})
			go func() { n.Kill(); close(killed) }()
			select {
			case <-killed:
			case <-ctx.Done():
				t.Fatal("kill blocked on a client that does not read")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newNode(t, "r-"+strconv.Itoa(len(tc.name)))) })
	}
}

func dialRaw(t *testing.T, n *Node) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", n.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn
}
