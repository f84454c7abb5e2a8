package sim

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Service names a kind of node in the stack.
type Service string

// The services of the stack.
const (
	ServiceApp    Service = "app"
	ServiceMySQL  Service = "mysql"
	ServiceRedis  Service = "redis"
	ServiceKafka  Service = "kafka"
	ServiceSearch Service = "elasticsearch"
)

// Role is what a node currently does in its cluster.
type Role string

// Node roles.
const (
	RolePrimary Role = "primary" // MySQL writer, Redis primary
	RoleReplica Role = "replica" // MySQL reader, Redis replica
	RoleBroker  Role = "broker"  // Kafka broker (partition leadership is in Detail)
	RoleMember  Role = "member"  // an Elasticsearch node or an app instance
)

// State is a node's health as the fault model sees it.
type State string

// Node states.
const (
	StateUp       State = "up"
	StateDown     State = "down"     // killed: process gone, listener closed
	StatePaused   State = "paused"   // accepts connections, answers nothing
	StateIsolated State = "isolated" // running, but unreachable from clients and other AZs
)

// NodeStatus is a point-in-time view of one node, for the TUI and checkers.
type NodeStatus struct {
	ID      string  `json:"id"`
	Service Service `json:"service"`
	AZ      string  `json:"az"`
	Role    Role    `json:"role"`
	State   State   `json:"state"`
	Addr    string  `json:"addr"`
	Detail  string  `json:"detail,omitempty"`
}

// Node is one breakable process of the stack.
type Node interface {
	Status() NodeStatus
	// Kill stops the node abruptly: connections drop, the listener closes and
	// whatever the real system would not have made durable is lost.
	Kill(ctx context.Context) error
	// Restart brings a killed node back on the same address.
	Restart(ctx context.Context) error
}

// Pauser is a node that can stop answering while still accepting connections.
type Pauser interface {
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
}

// Isolator is a node whose network can be cut while it keeps running.
type Isolator interface {
	Isolate(ctx context.Context) error
	Reconnect(ctx context.Context) error
}

// Toxic is a network impairment on a node's path (toxiproxy terms).
type Toxic struct {
	Name       string         // unique per node; Heal removes by name
	Type       string         // latency, timeout, bandwidth, slicer, reset_peer, limit_data...
	Stream     string         // upstream (to the node), downstream (to the client) or "" for both
	Toxicity   float64        // probability a connection is affected; 0 means 1
	Attributes map[string]any // toxiproxy attributes, e.g. {"latency": 100, "jitter": 20}
}

// Shaper is a node whose network path can be impaired.
type Shaper interface {
	AddToxic(ctx context.Context, t Toxic) error
	RemoveToxic(ctx context.Context, name string) error
}

// Registry holds the live state of every node; it is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	nodes map[string]*NodeStatus
	order []string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{nodes: map[string]*NodeStatus{}} }

// Add registers a node's initial status.
func (r *Registry) Add(s NodeStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.nodes[s.ID]; !ok {
		r.order = append(r.order, s.ID)
	}
	c := s
	r.nodes[s.ID] = &c
}

// Update changes a node's status in place under the registry's lock.
func (r *Registry) Update(id string, fn func(*NodeStatus)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.nodes[id]; ok {
		fn(s)
	}
}

// Get returns one node's status.
func (r *Registry) Get(id string) (NodeStatus, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.nodes[id]
	if !ok {
		return NodeStatus{}, false
	}
	return *s, true
}

// Snapshot returns every node's status, in registration order.
func (r *Registry) Snapshot() []NodeStatus {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]NodeStatus, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, *r.nodes[id])
	}
	return out
}

// ByService returns the statuses of one service's nodes, sorted by ID.
func (r *Registry) ByService(svc Service) []NodeStatus {
	var out []NodeStatus
	for _, s := range r.Snapshot() {
		if s.Service == svc {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Backend is a running set of infrastructure nodes (embedded or containers).
type Backend interface {
	Endpoints() Endpoints
	Registry() *Registry
	Nodes() []Node
	Close() error
}

// Detacher is a node that can be cut off from its cluster's control plane
// (which then fails it over) while it keeps running and serving the clients
// on its side of a partition: the split brain a network outage allows.
type Detacher interface {
	Detach(ctx context.Context) error
	Attach(ctx context.Context) error
}

// LinkImpairment is what the network between two AZs does to traffic.
type LinkImpairment struct {
	Cut       bool          // nothing gets through; dials and reads time out
	Latency   time.Duration // added once per round trip
	Jitter    time.Duration // up to this much more, uniformly
	Loss      float64       // share of segments lost; each costs a TCP retransmission
	Bandwidth int64         // bytes per second; 0 = unlimited
}

// Combine stacks two impairments on the same path.
func (a LinkImpairment) Combine(b LinkImpairment) LinkImpairment {
	out := LinkImpairment{
		Cut: a.Cut || b.Cut, Latency: a.Latency + b.Latency, Jitter: a.Jitter + b.Jitter,
		Loss: 1 - (1-a.Loss)*(1-b.Loss), Bandwidth: a.Bandwidth,
	}
	if out.Bandwidth == 0 || (b.Bandwidth > 0 && b.Bandwidth < out.Bandwidth) {
		out.Bandwidth = b.Bandwidth
	}
	return out
}

// Network is the region's network between AZs, for faults on links.
type Network interface {
	// Impair applies imp from every AZ in from to every AZ in to (one way)
	// under fault id.
	Impair(id string, from, to []string, imp LinkImpairment) error
	// Restore removes fault id.
	Restore(id string)
}

// NodeInfo is what a node runs: the image of its container (empty for a
// node in paysim's process) and the server's own version string.
type NodeInfo struct {
	ID      string
	Service Service
	AZ      string
	Image   string
	Version string
}

// Describer is a backend that can say what its nodes run.
type Describer interface {
	Describe(ctx context.Context) []NodeInfo
}
