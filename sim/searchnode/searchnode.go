// Package searchnode runs paysim's Elasticsearch nodes (package
// embedded/search: bleve behind the Elasticsearch REST API) over one shared
// store in a process of their own, alone in a container of the node image
// (containers mode, `paysim node search`), with a control API to kill and
// start each node, and the Client the stack calls it through.
package searchnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"

	"paysim/internal/controlapi"
	"paysim/sim/embedded/search"
)

// The ports a search node process listens on in its container.
const (
	// FirstNodePort is node 0's port; node i listens on FirstNodePort+i.
	FirstNodePort = 9200
	// ControlPort serves the control API (Handler).
	ControlPort = 8090
)

// NodePort is node i's port in the container.
func NodePort(i int) int { return FirstNodePort + i }

// ErrNoNode is a node index the process does not have.
var ErrNoNode = errors.New("no such search node")

// Config is a search node process (`paysim node search`).
type Config struct {
	// Names are the nodes' names (as GET / and _cat/nodes report them),
	// node i on NodePort(i).
	Names []string
	// DataDir holds the indices.
	DataDir string
	// Host is the address to listen on; empty means every interface (the
	// container's own network namespace).
	Host string
}

// Serve runs the nodes and their control API until ctx ends.
func Serve(ctx context.Context, cfg Config) error {
	if len(cfg.Names) == 0 {
		return errors.New("search node: no node names")
	}
	host := cfg.Host
	if host == "" {
		host = "0.0.0.0"
	}
	st := search.NewStoreIn(cfg.DataDir)
	defer st.Close()
	nodes := make([]*search.Node, len(cfg.Names))
	for i, name := range cfg.Names {
		nodes[i] = search.NewNode(st, name, net.JoinHostPort(host, strconv.Itoa(NodePort(i))))
		defer nodes[i].Close()
		if err := nodes[i].Start(); err != nil {
			return fmt.Errorf("search node: %w", err)
		}
	}
	if err := controlapi.Serve(ctx, net.JoinHostPort(cfg.Host, strconv.Itoa(ControlPort)), Handler(nodes)); err != nil {
		return fmt.Errorf("search node: control: %w", err)
	}
	return nil
}

// Handler serves the control API of nodes:
//
//	GET  /healthz          200 while the process serves
//	POST /nodes/{i}/kill   node i stops: its listener and connections drop
//	POST /nodes/{i}/start  node i serves again on its port
//
// A malformed index is 400, one the process does not have 404.
func Handler(nodes []*search.Node) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	node := func(fn func(n *search.Node) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			i, err := strconv.Atoi(r.PathValue("i"))
			if err != nil {
				http.Error(w, fmt.Sprintf("node %q: not a number", r.PathValue("i")), http.StatusBadRequest)
				return
			}
			if i < 0 || i >= len(nodes) {
				http.Error(w, fmt.Sprintf("%v: %d (want 0..%d)", ErrNoNode, i, len(nodes)-1), http.StatusNotFound)
				return
			}
			if err := fn(nodes[i]); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}
	mux.HandleFunc("POST /nodes/{i}/kill", node(func(n *search.Node) error { n.Kill(); return nil }))
	mux.HandleFunc("POST /nodes/{i}/start", node(func(n *search.Node) error { return n.Start() }))
	return mux
}

// Client calls a search node process's control API.
type Client struct{ api *controlapi.Client }

// NewClient calls the control API at addr (host:port).
func NewClient(addr string) *Client {
	return &Client{api: controlapi.NewClient("search control", addr)}
}

func (c *Client) post(ctx context.Context, path string) error {
	return c.api.Call(ctx, http.MethodPost, path, nil, ErrNoNode)
}

// Kill stops node i.
func (c *Client) Kill(ctx context.Context, i int) error {
	return c.post(ctx, fmt.Sprintf("/nodes/%d/kill", i))
}

// Start serves node i again.
func (c *Client) Start(ctx context.Context, i int) error {
	return c.post(ctx, fmt.Sprintf("/nodes/%d/start", i))
}
