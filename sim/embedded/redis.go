package embedded

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"paysim/sim"
	"paysim/sim/embedded/redisnode"
	"paysim/sim/netproxy"
)

// redisCluster is an ElastiCache-like replication group: a primary and a
// replica in different AZs with asynchronous, lagged replication. When the
// primary fails for FailoverAfter the replica is promoted; writes it had not
// received are lost, as on ElastiCache.
type redisCluster struct {
	topo    sim.RedisTopology
	rn      map[*netproxy.Node]*redisnode.Node
	nodes   []*netproxy.Node
	primary *netproxy.Endpoint[*netproxy.Node]
	reader  *netproxy.Endpoint[*netproxy.Node]
	fo      failover

	mu      sync.Mutex
	link    *redisnode.Link
	closing bool
}

func startRedis(reg *sim.Registry, px *netproxy.Server, topo sim.Topology, listen listenFunc) (*redisCluster, error) {
	r := &redisCluster{topo: topo.Redis, rn: map[*netproxy.Node]*redisnode.Node{}}
	r.fo = failover{after: topo.Redis.FailoverAfter, promote: r.promote}
	for i := 0; i < 2; i++ {
		az := topo.AZAt(i)
		id := fmt.Sprintf("redis-%d-%s", i, az)
		role, rrole := sim.RolePrimary, redisnode.Primary
		if i == 1 {
			role, rrole = sim.RoleReplica, redisnode.Replica
		}
		rn := redisnode.New(id, "127.0.0.1:0", redisnode.WithRole(rrole), redisnode.WithListen(listen))
		if err := rn.Start(); err != nil {
			r.close()
			return nil, fmt.Errorf("redis %s: %w", id, err)
		}
		front, err := px.New(id, rn.Addr())
		if err != nil {
			rn.Close()
			r.close()
			return nil, fmt.Errorf("redis %s: %w", id, err)
		}
		n := netproxy.NewNode(reg, id, sim.ServiceRedis, az, role, rn, front)
		r.rn[n] = rn
		r.nodes = append(r.nodes, n)
	}
	var err error
	if r.link, err = redisnode.Replicate(r.rn[r.nodes[0]], r.rn[r.nodes[1]], topo.Redis.ReplicationLag); err != nil {
		r.close()
		return nil, fmt.Errorf("redis: replicate: %w", err)
	}
	addr := func(n *netproxy.Node) string { return r.rn[n].Addr() }
	if r.primary, err = netproxy.NewEndpoint(px, "redis-primary", r.nodes[0], addr); err != nil {
		r.close()
		return nil, fmt.Errorf("redis: primary endpoint: %w", err)
	}
	if r.reader, err = netproxy.NewEndpoint(px, "redis-reader", r.nodes[1], addr); err != nil {
		r.close()
		return nil, fmt.Errorf("redis: reader endpoint: %w", err)
	}
	for _, n := range r.nodes {
		n.OnChange = r.onChange
	}
	r.refresh()
	return r, nil
}

// members returns the current primary and replica nodes.
func (r *redisCluster) members() (primary, replica *netproxy.Node) {
	p := r.primary.Target()
	for _, n := range r.nodes {
		if n != p {
			return p, n
		}
	}
	return p, nil
}

// onChange holds replication while either side is cut off, resyncs a
// replica that came back, and arms the failover timer for the primary.
func (r *redisCluster) onChange(*netproxy.Node) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return
	}
	p, rep := r.members()
	if p.Healthy() && rep.Healthy() && r.link != nil && errors.Is(r.link.Err(), redisnode.ErrPrimaryDown) {
		// The primary lost its memory and came back before the failover
		// fired: promote the replica now rather than resync it from empty.
		r.promoteLocked()
		p, rep = r.members()
	}
	r.fo.watch(p.Healthy())
	pRN, repRN := r.rn[p], r.rn[rep]
	if rep.State() != sim.StateDown && repRN.Running() && pRN.Running() && p.State() != sim.StateDown {
		if r.link == nil || r.link.Err() != nil || r.link.Replica() != repRN {
			if repRN.Role() == redisnode.Primary {
				repRN.Demote() // a diverged old primary rejoins as a replica
			}
			if l, err := redisnode.Replicate(pRN, repRN, r.topo.ReplicationLag); err == nil {
				r.link = l
				r.reader.Point(rep)
			}
		}
	}
	if r.link != nil {
		r.link.Hold(!p.Healthy() || !rep.Healthy())
	}
	r.refresh()
}

// promote makes the replica the primary; un-replicated writes are lost.
func (r *redisCluster) promote() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.promoteLocked()
}

func (r *redisCluster) promoteLocked() {
	p, rep := r.members()
	if (p.Healthy() && r.rn[p].Running() && (r.link == nil || r.link.Err() == nil)) || !rep.Healthy() {
		if !rep.Healthy() {
			r.fo.watch(false) // nothing to promote yet; retry after the delay
		}
		return
	}
	r.swapLocked(p, rep)
	r.reader.Point(rep) // until the old primary rejoins as a replica
	r.refresh()
}

// swapLocked stops replication and makes rep the primary behind the
// primary endpoint.
func (r *redisCluster) swapLocked(p, rep *netproxy.Node) {
	if r.link != nil {
		r.link.Stop()
		r.link = nil
	}
	r.rn[rep].Promote()
	rep.SetRole(sim.RolePrimary)
	p.SetRole(sim.RoleReplica)
	r.primary.Point(rep)
}

// switchover waits for the replica to catch up, then swaps the roles and
// replicates the other way, as a planned ElastiCache failover does.
func (r *redisCluster) switchover() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, rep := r.members()
	if rep == nil || !rep.Healthy() || !r.rn[rep].Running() {
		return errors.New("redis switchover: no healthy replica")
	}
	// Writes still in flight after a few lags are lost, as in ElastiCache.
	deadline := time.Now().Add(4*r.topo.ReplicationLag + 100*time.Millisecond)
	for r.link != nil && r.link.Err() == nil && r.link.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // catch-up poll, bounded
	}
	r.swapLocked(p, rep)
	if r.rn[p].Running() {
		r.rn[p].Demote()
		if l, err := redisnode.Replicate(r.rn[rep], r.rn[p], r.topo.ReplicationLag); err == nil {
			r.link = l
			r.reader.Point(p)
		}
	}
	r.refresh()
	return nil
}

// flush empties the cache through the primary endpoint (FLUSHALL replicates).
func (r *redisCluster) flush(ctx context.Context) error {
	cl := goredis.NewClient(&goredis.Options{Addr: r.primary.Addr(), MaxRetries: 2})
	defer cl.Close()
	if err := cl.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("redis flush: %w", err)
	}
	return nil
}

// refresh records replication lag details for the TUI.
func (r *redisCluster) refresh() {
	p, rep := r.members()
	p.SetDetail("")
	if r.link != nil && r.link.Err() == nil {
		rep.SetDetail(fmt.Sprintf("lag %v, %d pending", r.topo.ReplicationLag, r.link.Pending()))
	} else {
		rep.SetDetail("not replicating")
	}
}

func (r *redisCluster) endpoint() sim.RedisEndpoint {
	return sim.RedisEndpoint{Addr: r.primary.Addr(), Reader: r.reader.Addr()}
}

func (r *redisCluster) close() {
	r.mu.Lock()
	r.closing = true
	r.mu.Unlock()
	r.fo.stop()
	for _, e := range []*netproxy.Endpoint[*netproxy.Node]{r.primary, r.reader} {
		if e != nil {
			e.Close()
		}
	}
	if r.link != nil {
		r.link.Stop()
	}
	for _, n := range r.nodes {
		n.Front().Close()
		r.rn[n].Close()
	}
}
