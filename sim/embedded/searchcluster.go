package embedded

import (
	"context"
	"fmt"
	"sync"

	"paysim/sim"
	"paysim/sim/embedded/search"
	"paysim/sim/netproxy"
)

// searchCluster is an Elasticsearch domain: one node per AZ over a shared,
// fully replicated store, behind a domain endpoint that routes to a healthy
// node (an OpenSearch domain endpoint is a load balancer). The nodes run in
// this process, or where a SearchRunner puts them.
type searchCluster struct {
	store  *search.Store             // the in-process nodes' store, if they are here
	local  []*search.Node            // the in-process nodes, if they are here
	addrs  map[*netproxy.Node]string // each node's own address, behind its front
	nodes  []*netproxy.Node
	domain *netproxy.Endpoint[*netproxy.Node]
	mu     sync.Mutex
}

// SearchRunner runs the search nodes outside this process (containers
// mode: in a container of the node image).
type SearchRunner interface {
	// RunSearch starts one node per name over one shared store and returns
	// each node's backend (how it is killed and started) and address.
	RunSearch(ctx context.Context, names []string) ([]netproxy.Backend, []string, error)
}

func startSearch(ctx context.Context, reg *sim.Registry, px *netproxy.Server, topo sim.Topology, dir string, runner SearchRunner, listen listenFunc) (*searchCluster, error) {
	c := &searchCluster{addrs: map[*netproxy.Node]string{}}
	names := make([]string, len(topo.AZs))
	for i, az := range topo.AZs {
		names[i] = "es-" + az
	}
	var backends []netproxy.Backend
	var addrs []string
	if runner != nil {
		var err error
		if backends, addrs, err = runner.RunSearch(ctx, names); err != nil {
			return nil, fmt.Errorf("elasticsearch: %w", err)
		}
	} else {
		c.store = search.NewStoreIn(dir)
		for _, id := range names {
			en := search.NewNode(c.store, id, "127.0.0.1:0")
			en.SetListen(listen)
			c.local = append(c.local, en)
			if err := en.Start(); err != nil {
				c.close()
				return nil, fmt.Errorf("elasticsearch %s: %w", id, err)
			}
			backends, addrs = append(backends, en), append(addrs, en.Addr())
		}
	}
	for i, az := range topo.AZs {
		id := names[i]
		front, err := px.New(id, addrs[i])
		if err != nil {
			c.close()
			return nil, fmt.Errorf("elasticsearch %s: %w", id, err)
		}
		n := netproxy.NewNode(reg, id, sim.ServiceSearch, az, sim.RoleMember, backends[i], front)
		n.OnChange = c.onChange
		c.addrs[n] = addrs[i]
		c.nodes = append(c.nodes, n)
	}
	var err error
	if c.domain, err = netproxy.NewEndpoint(px, "es-domain", c.nodes[0], func(n *netproxy.Node) string { return c.addrs[n] }); err != nil {
		c.close()
		return nil, fmt.Errorf("elasticsearch: domain endpoint: %w", err)
	}
	return c, nil
}

// onChange routes the domain endpoint away from an unhealthy node.
func (c *searchCluster) onChange(*netproxy.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.domain == nil || c.domain.Target().Healthy() {
		return
	}
	for _, n := range c.nodes {
		if n.Healthy() {
			c.domain.Point(n)
			return
		}
	}
}

func (c *searchCluster) endpoint() sim.SearchEndpoint {
	ep := sim.SearchEndpoint{URL: "http://" + c.domain.Addr()}
	for _, n := range c.nodes {
		ep.Nodes = append(ep.Nodes, "http://"+n.Front().Addr())
	}
	return ep
}

func (c *searchCluster) close() {
	if c.domain != nil {
		c.domain.Close()
	}
	for _, n := range c.nodes {
		n.Front().Close()
	}
	for _, en := range c.local {
		en.Close()
	}
	if c.store != nil {
		c.store.Close()
	}
}
