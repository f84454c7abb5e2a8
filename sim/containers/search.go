package containers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"paysim/sim"
	"paysim/sim/embedded"
	"paysim/sim/netproxy"
	"paysim/sim/searchnode"
)

// searchDataDir is where the search node process keeps its indices: on a
// volume (see dataVolume).
const searchDataDir = "/var/lib/paysim-search"

// searchContainer runs the search nodes in one container of the node image
// on the run's network (`paysim node search`): paysim's own Elasticsearch
// (bleve behind its REST API), packaged, as no Elasticsearch or OpenSearch
// can be had from Debian here. The nodes share one store, as in embedded
// mode; each node's published port sits behind its proxy on the host, and
// a node is killed and started through the process's control API.
type searchContainer struct {
	tier  *DataTier
	image string
}

var _ embedded.SearchRunner = searchContainer{}

// controlTimeout bounds one call to a node process's control API.
const controlTimeout = 5 * time.Second

// searchNodeID is the container's name within the run (and its host name).
const searchNodeID = "search"

// RunSearch implements embedded.SearchRunner.
func (c searchContainer) RunSearch(ctx context.Context, names []string) ([]netproxy.Backend, []string, error) {
	var ports []string
	for i := range names {
		ports = append(ports, fmt.Sprintf("%d/tcp", searchnode.NodePort(i)))
	}
	control := fmt.Sprintf("%d/tcp", searchnode.ControlPort)
	_, published, err := c.tier.startNodeProcess(ctx, nodeProcess{
		image: c.image, id: searchNodeID, service: sim.ServiceSearch, ports: append(ports, control), control: control,
		dataDir: searchDataDir, args: []string{"node", "search", "--names", strings.Join(names, ","), "--data", searchDataDir},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("search node: %w", err)
	}
	cl := searchnode.NewClient(published[control])
	backends := make([]netproxy.Backend, len(names))
	addrs := make([]string, len(names))
	for i := range names {
		addrs[i] = published[ports[i]]
		backends[i] = netproxy.FuncBackend{
			// The node's front is cut with it either way; a control call
			// that fails leaves the node serving behind a closed front.
			KillFn: func() {
				ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
				defer cancel()
				_ = cl.Kill(ctx, i)
			},
			StartFn: func() error {
				ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
				defer cancel()
				return cl.Start(ctx, i)
			},
		}
	}
	return backends, addrs, nil
}
