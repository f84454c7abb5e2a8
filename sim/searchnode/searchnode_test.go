package searchnode

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"paysim/sim/embedded/search"
)

// startNodes runs two search nodes over one store on loopback and their
// control API; it returns the API's client and the nodes.
func startNodes(t *testing.T) (*Client, string, []*search.Node) {
	t.Helper()
	st := search.NewStoreIn(t.TempDir())
	t.Cleanup(func() { st.Close() })
	var nodes []*search.Node
	for _, name := range []string{"es-a", "es-b"} {
		n := search.NewNode(st, name, "127.0.0.1:0")
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
	}
	srv := httptest.NewServer(Handler(nodes))
	t.Cleanup(srv.Close)
	return NewClient(strings.TrimPrefix(srv.URL, "http://")), srv.URL, nodes
}

func serving(ctx context.Context, n *search.Node) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.URL()+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func TestKillAndStartThroughControl(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, _, nodes := startNodes(t)
	if !serving(ctx, nodes[1]) {
		t.Fatal("node 1 not serving at start")
	}
	if err := cl.Kill(ctx, 1); err != nil {
		t.Fatalf("kill node 1: %v", err)
	}
	if serving(ctx, nodes[1]) || !serving(ctx, nodes[0]) {
		t.Fatalf("after killing node 1: node 0 serving %v, node 1 serving %v; want true, false", serving(ctx, nodes[0]), serving(ctx, nodes[1]))
	}
	if err := cl.Start(ctx, 1); err != nil {
		t.Fatalf("start node 1: %v", err)
	}
	if !serving(ctx, nodes[1]) {
		t.Fatal("node 1 not serving after start")
	}
}

func TestControlRejectsBadRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, base, nodes := startNodes(t)
	if err := cl.Kill(ctx, 2); !errors.Is(err, ErrNoNode) {
		t.Errorf("kill node 2 of 2: %v, want ErrNoNode", err)
	}
	if err := cl.Start(ctx, -1); !errors.Is(err, ErrNoNode) {
		t.Errorf("start node -1: %v, want ErrNoNode", err)
	}
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/nodes/x/kill", http.StatusBadRequest},
		{http.MethodGet, "/nodes/0/kill", http.StatusMethodNotAllowed},
		{http.MethodPost, "/nodes/0/explode", http.StatusNotFound},
		{http.MethodGet, "/healthz", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, tt.method, base+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	if !serving(ctx, nodes[0]) || !serving(ctx, nodes[1]) {
		t.Error("a bad request stopped a node")
	}
}

func TestServeNeedsNames(t *testing.T) {
	if err := Serve(context.Background(), Config{}); err == nil || !strings.Contains(err.Error(), "no node names") {
		t.Errorf("Serve without names: %v", err)
	}
}
