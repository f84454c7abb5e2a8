package search

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"paysim/internal/loopback"
)

// DefaultMaxBodyBytes is the request body limit (ES http.max_content_length).
const DefaultMaxBodyBytes = 100 << 20

// rebindTimeout bounds how long Start retries binding an address that was
// just released by Kill.
const rebindTimeout = 3 * time.Second

// Node is one Elasticsearch node (one per AZ) serving the HTTP API over the
// shared store. It can be killed (listener and connections drop) and
// started again on the same address.
type Node struct {
	st      *Store
	name    string
	maxBody atomic.Int64
	listen  func(addr string) (net.Listener, error)

	mu      sync.Mutex
	addr    string
	srv     *http.Server
	running bool
	closed  bool
}

// NewNode creates a stopped node named name that will listen on addr
// ("127.0.0.1:0" picks a free port; an empty host means 127.0.0.1).
func NewNode(st *Store, name string, addr string) *Node {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = "", "0"
	}
	if host == "" {
		host = "127.0.0.1"
	}
	st.registerNode(name)
	n := &Node{st: st, name: name, addr: net.JoinHostPort(host, port), listen: loopback.Listen}
	n.maxBody.Store(DefaultMaxBodyBytes)
	return n
}

// SetListen sets how Start binds the node's address (default
// loopback.Listen), e.g. to accept in-memory connections too (memnet).
// Call it before Start.
func (n *Node) SetListen(listen func(addr string) (net.Listener, error)) { n.listen = listen }

// SetMaxBodyBytes changes the request body limit (larger bodies get 413).
func (n *Node) SetMaxBodyBytes(limit int64) { n.maxBody.Store(limit) }

// Name is the node name reported by GET / and _cat/nodes.
func (n *Node) Name() string { return n.name }

// Start begins serving. After Kill it listens on the same address again.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fmt.Errorf("start node %s: node is closed", n.name)
	}
	if n.running {
		return nil
	}
	ln, err := listenRetry(n.listen, n.addr)
	if err != nil {
		return fmt.Errorf("start node %s: %w", n.name, err)
	}
	n.addr = ln.Addr().String()
	srv := &http.Server{
		Handler:           n,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
	}
	n.srv = srv
	n.running = true
	go func() { _ = srv.Serve(ln) }()
	n.st.setNodeUp(n.name, true)
	return nil
}

// listenRetry listens on addr, retrying briefly while a fixed port is still
// held by the previous incarnation.
func listenRetry(listen func(string) (net.Listener, error), addr string) (net.Listener, error) {
	ctx, cancel := context.WithTimeout(context.Background(), rebindTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ln, err := listen(addr)
		if err == nil {
			return ln, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen %s: %w", addr, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("listen %s: %w", addr, err)
		case <-tick.C:
		}
	}
}

// Kill stops the node abruptly: the listener closes and in-flight
// connections drop. The node's data stays in the store.
func (n *Node) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running {
		return
	}
	_ = n.srv.Close()
	n.running = false
	n.st.setNodeUp(n.name, false)
}

// Running reports whether the node is serving.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.running
}

// Addr is the node's host:port (resolved after the first Start).
func (n *Node) Addr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addr
}

// URL is the node's base URL, e.g. http://127.0.0.1:9200.
func (n *Node) URL() string { return "http://" + n.Addr() }

// Close stops the node for good and removes it from the cluster.
func (n *Node) Close() error {
	n.Kill()
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.closed = true
		n.st.unregisterNode(n.name)
	}
	return nil
}
