package embedded

import (
	"fmt"
	"sync"

	"paysim/sim"
	"paysim/sim/embedded/search"
	"paysim/sim/netproxy"
)

// searchCluster is an Elasticsearch domain: one node per AZ over a shared,
// fully replicated store, behind a domain endpoint that routes to a healthy
// node (an OpenSearch domain endpoint is a load balancer).
type searchCluster struct {
	store  *search.Store
	es     map[*netproxy.Node]*search.Node
	nodes  []*netproxy.Node
	domain *netproxy.Endpoint[*netproxy.Node]
	mu     sync.Mutex
}

func startSearch(reg *sim.Registry, px *netproxy.Server, topo sim.Topology, dir string) (*searchCluster, error) {
	c := &searchCluster{store: search.NewStoreIn(dir), es: map[*netproxy.Node]*search.Node{}}
	for _, az := range topo.AZs {
		id := "es-" + az
		en := search.NewNode(c.store, id, "127.0.0.1:0")
		if err := en.Start(); err != nil {
			c.close()
			return nil, fmt.Errorf("elasticsearch %s: %w", id, err)
		}
		front, err := px.New(id, en.Addr())
		if err != nil {
			en.Close()
			c.close()
			return nil, fmt.Errorf("elasticsearch %s: %w", id, err)
		}
		n := netproxy.NewNode(reg, id, sim.ServiceSearch, az, sim.RoleMember, en, front)
		n.OnChange = c.onChange
		c.es[n] = en
		c.nodes = append(c.nodes, n)
	}
	var err error
	if c.domain, err = netproxy.NewEndpoint(px, "es-domain", c.nodes[0], func(n *netproxy.Node) string { return c.es[n].Addr() }); err != nil {
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
		c.es[n].Close()
	}
	c.store.Close()
}
