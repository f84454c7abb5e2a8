package lb

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"paysim/internal/testwait"
)

// newTarget is a backend whose health can be switched off.
func newTarget(t *testing.T, name string) (*httptest.Server, *atomic.Bool) {
	t.Helper()
	healthy := &atomic.Bool{}
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv, healthy
}

func newBalancer(t *testing.T, targets ...Target) *Balancer {
	t.Helper()
	b, err := Start(Config{Interval: 20 * time.Millisecond, Timeout: 100 * time.Millisecond}, targets)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func TestRoundRobinAndHealth(t *testing.T) {
	a, aHealthy := newTarget(t, "a")
	b, _ := newTarget(t, "b")
	bal := newBalancer(t,
		Target{Name: "a", Addr: strings.TrimPrefix(a.URL, "http://")},
		Target{Name: "b", Addr: strings.TrimPrefix(b.URL, "http://")})
	seen := map[string]int{}
	for i := 0; i < 10; i++ {
		_, body := get(t, bal.URL()+"/x")
		seen[body]++
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Fatalf("round robin split %v, want 5/5", seen)
	}
	aHealthy.Store(false)
	testwait.For(t, 2*time.Second, "a leaves rotation", func() bool { return !bal.Status()[0].Healthy })
	for i := 0; i < 6; i++ {
		if _, body := get(t, bal.URL()+"/x"); body != "b" {
			t.Fatalf("unhealthy target a still served a request")
		}
	}
	aHealthy.Store(true)
	testwait.For(t, 2*time.Second, "a rejoins after the healthy threshold", func() bool { return bal.Status()[0].Healthy })
}

func TestNoHealthyTargetIs503AndDeadTargetIs502(t *testing.T) {
	a, _ := newTarget(t, "a")
	addr := strings.TrimPrefix(a.URL, "http://")
	bal, err := Start(Config{Interval: time.Hour}, []Target{{Name: "a", Addr: addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bal.Close() })
	a.Close() // dies between health checks: the request reaches a dead target
	if code, _ := get(t, bal.URL()+"/x"); code != http.StatusBadGateway {
		t.Fatalf("dead target: %d, want 502", code)
	}
	bal.targets[0].healthy.Store(false)
	if code, body := get(t, bal.URL()+"/x"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no healthy target") {
		t.Fatalf("no target: %d %s, want 503", code, body)
	}
	if _, err := Start(Config{}, nil); err == nil {
		t.Fatal("a balancer without targets started")
	}
}
