package redisnode

import (
	"bufio"
	"fmt"
	"net"
	"paysim/internal/testwait"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// newNode starts a node on a free 127.0.0.1 port, closed at cleanup.
func newNode(t testing.TB, name string, opts ...Option) *Node {
	t.Helper()
	n := New(name, "127.0.0.1:0", opts...)
	if err := n.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// newPair starts a primary and a replica fed by a link with the given lag.
func newPair(t testing.TB, lag time.Duration) (p, r *Node, l *Link) {
	t.Helper()
	p = newNode(t, "redis-az1")
	r = newNode(t, "redis-az2")
	l, err := Replicate(p, r, lag)
	if err != nil {
		t.Fatalf("replicate: %v", err)
	}
	t.Cleanup(l.Stop)
	return p, r, l
}

// newClient returns a go-redis client for n, closed at cleanup. It does not
// retry, so a dead node shows as an error right away.
func newClient(t testing.TB, n *Node) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:               n.Addr(),
		MaxRetries:         -1,
		DialerRetries:      1,
		DialerRetryTimeout: 10 * time.Millisecond,
		DialTimeout:        time.Second,
		ReadTimeout:        2 * time.Second,
		WriteTimeout:       2 * time.Second,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// drained waits until the link has applied everything queued.
func drained(t testing.TB, l *Link) {
	t.Helper()
	testwait.For(t, 5*time.Second, "replication to drain", func() bool { return l.Pending() == 0 })
}

// must turns a (value, error) result into a value, failing t on error:
// must(c.Get(ctx, k).Result())(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// rawConn is a bare RESP connection, for steps a client library would
// interfere with (go-redis drops a connection that answered READONLY).
type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

func newRawConn(t testing.TB, n *Node) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", n.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{c: c, r: bufio.NewReader(c)}
}

// do sends a command and returns a scalar reply as text: "+OK" -> "OK",
// "-ERR x" -> "ERR x", bulk -> its content, ":1" -> "1".
func (rc *rawConn) do(t testing.TB, args ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = rc.c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := rc.c.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	line, err := rc.r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line[0] == '$' && line != "$-1" {
		bulk, err := rc.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(bulk, "\r\n")
	}
	return line[1:]
}
