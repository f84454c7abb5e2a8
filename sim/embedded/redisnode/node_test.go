package redisnode

import (
	"errors"
	"paysim/internal/testwait"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestClientFailsWhileKilledAndRecoversAfterStart(t *testing.T) {
	n := newNode(t, "redis-az1")
	c := newClient(t, n)
	ctx := t.Context()
	addr := n.Addr()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	n.Kill()
	n.Kill() // idempotent
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"GET on a pooled connection", func() error { return c.Get(ctx, "k").Err() }},
		{"SET", func() error { return c.Set(ctx, "k", "v", 0).Err() }},
		{"PING on a new connection", func() error { return c.Ping(ctx).Err() }},
	} {
		if err := op.do(); err == nil || errors.Is(err, redis.Nil) {
			t.Fatalf("%s on a killed node: %v", op.name, err)
		}
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	if n.Addr() != addr {
		t.Fatalf("restarted on %s, was on %s", n.Addr(), addr)
	}
	testwait.For(t, 5*time.Second, "client to work again", func() bool { return c.Ping(ctx).Err() == nil })
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET k after restart: %v (a killed cache node comes back empty)", err)
	}
	if err := c.Set(ctx, "k2", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T) error
		want string // error substring, "" for success
	}{
		{"start twice is a no-op", func(t *testing.T) error {
			n := newNode(t, "n")
			return n.Start()
		}, ""},
		{"start after close", func(t *testing.T) error {
			n := newNode(t, "n")
			_ = n.Close()
			return n.Start()
		}, ErrClosed.Error()},
		{"non-loopback address", func(t *testing.T) error {
			return New("n", "0.0.0.0:0").Start()
		}, "only loopback"},
		{"empty host", func(t *testing.T) error {
			return New("n", ":0").Start()
		}, "only loopback"},
		{"port in use", func(t *testing.T) error {
			n := newNode(t, "n")
			return New("m", n.Addr()).Start()
		}, "listen"},
		{"restart after kill keeps the port", func(t *testing.T) error {
			n := newNode(t, "n")
			addr := n.Addr()
			n.Kill()
			if err := n.Start(); err != nil {
				return err
			}
			if n.Addr() != addr {
				t.Fatalf("addr %s != %s", n.Addr(), addr)
			}
			return nil
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(t)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestBadCommandsGetErrorsAndNodeKeepsServing(t *testing.T) {
	p, r, _ := newPair(t, 0)
	for _, n := range []*Node{p, r} {
		c := newClient(t, n)
		ctx := t.Context()
		tests := []struct {
			args []any
			want string
		}{
			{[]any{"NOSUCHCOMMAND", "x"}, "unknown command"},
			{[]any{"FLUSHEVERYTHING"}, "unknown command"},
			{[]any{"GET"}, "wrong number of arguments"},
			{[]any{"SELECT", "99"}, "out of range"},
		}
		if n == p {
			tests = append(tests, struct {
				args []any
				want string
			}{[]any{"SET", "k", "v", "EX", "notanumber"}, "not an integer"})
		}
		for _, tc := range tests {
			t.Run(n.Name()+" "+tc.args[0].(string), func(t *testing.T) {
				err := c.Do(ctx, tc.args...).Err()
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want error containing %q", err, tc.want)
				}
				if err := c.Ping(ctx).Err(); err != nil {
					t.Fatalf("node stopped serving: %v", err)
				}
			})
		}
	}
	cp := newClient(t, p)
	if err := cp.Set(t.Context(), "still", "works", 0).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestTTLTickerExpiresKeys(t *testing.T) {
	n := newNode(t, "n", WithTTLTick(10*time.Millisecond))
	c := newClient(t, n)
	ctx := t.Context()
	tests := []struct {
		key     string
		ttl     time.Duration
		expires bool
	}{
		{"short", 100 * time.Millisecond, true},
		{"long", time.Hour, false},
		{"none", 0, false},
	}
	for _, tc := range tests {
		if err := c.Set(ctx, tc.key, "v", tc.ttl).Err(); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, 5*time.Second, "short to expire", func() bool { return c.Exists(ctx, "short").Val() == 0 })
	for _, tc := range tests {
		if got := c.Exists(ctx, tc.key).Val() == 0; got != tc.expires {
			t.Fatalf("%s expired=%v, want %v", tc.key, got, tc.expires)
		}
	}
}
