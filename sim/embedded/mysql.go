package embedded

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"paysim/sim"
	"paysim/sim/embedded/mysqlwire"
	"paysim/sim/netproxy"
)

// auroraCluster is one shared storage volume served by an instance per AZ:
// a writer behind the cluster endpoint and readers. When the writer fails
// for FailoverAfter, a reader in a surviving AZ is promoted and the cluster
// endpoint follows it; committed data is never lost (shared storage).
type auroraCluster struct {
	topo    sim.MySQLTopology
	storage *mysqlwire.Storage
	inst    map[*netproxy.Node]*mysqlwire.Instance
	nodes   []*netproxy.Node
	writer  *netproxy.Endpoint[*netproxy.Node]
	fo      failover
	mu      sync.Mutex // serialises promotions
	dr      *drCopy    // nil without topology.dr
}

func startAurora(reg *sim.Registry, px *netproxy.Server, topo sim.Topology, dir string, listen listenFunc) (*auroraCluster, error) {
	st, err := mysqlwire.OpenStorageWith(filepath.Join(dir, "ledger.db"), mysqlwire.StorageOptions{MemoryWAL: true})
	if err != nil {
		return nil, fmt.Errorf("mysql: storage: %w", err)
	}
	a := &auroraCluster{topo: topo.MySQL, storage: st, inst: map[*netproxy.Node]*mysqlwire.Instance{}}
	a.fo = failover{after: topo.MySQL.FailoverAfter, promote: a.promote}
	for i, az := range topo.AZs {
		id := "mysql-" + az
		in := mysqlwire.NewInstance(st, mysqlwire.Config{
			Addr: "127.0.0.1:0", User: topo.MySQL.User, Password: topo.MySQL.Password, Database: topo.MySQL.Database,
			ReadOnly: i != 0, Name: id, LockWaitTimeout: 5 * time.Second, IdleTxnTimeout: 10 * time.Second, Listen: listen,
		})
		if err := in.Start(); err != nil {
			a.close()
			return nil, fmt.Errorf("mysql %s: %w", id, err)
		}
		front, err := px.New(id, in.Addr())
		if err != nil {
			in.Close()
			a.close()
			return nil, fmt.Errorf("mysql %s: %w", id, err)
		}
		role := sim.RoleReplica
		if i == 0 {
			role = sim.RolePrimary
		}
		n := netproxy.NewNode(reg, id, sim.ServiceMySQL, az, role, in, front)
		n.OnChange = a.onChange
		a.inst[n] = in
		a.nodes = append(a.nodes, n)
	}
	if a.writer, err = netproxy.NewEndpoint(px, "mysql-writer", a.nodes[0], func(n *netproxy.Node) string { return a.inst[n].Addr() }); err != nil {
		a.close()
		return nil, fmt.Errorf("mysql: writer endpoint: %w", err)
	}
	if topo.DR != nil {
		if a.dr, err = startDR(reg, px, topo, dir, st.Path(), listen); err != nil {
			a.close()
			return nil, err
		}
		a.inst[a.dr.node] = a.dr.inst
	}
	return a, nil
}

// loseRegion kills every instance of the primary region for good and stops
// the DR copy's replication.
func (a *auroraCluster) loseRegion(ctx context.Context) error {
	if a.dr == nil {
		return errNoDR
	}
	a.dr.halt()
	var errs []error
	for _, n := range a.nodes {
		errs = append(errs, n.Kill(ctx))
	}
	return errors.Join(errs...)
}

// promoteDR makes the DR copy the writer behind the cluster endpoint.
func (a *auroraCluster) promoteDR() error {
	if a.dr == nil {
		return errNoDR
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dr.promote()
	a.moveWriterLocked(a.dr.node)
	return nil
}

// moveWriterLocked makes n the writer: the old one turns read-only and the
// cluster endpoint follows n.
func (a *auroraCluster) moveWriterLocked(n *netproxy.Node) {
	old := a.writer.Target()
	a.inst[old].SetReadOnly(true)
	old.SetRole(sim.RoleReplica)
	a.inst[n].SetReadOnly(false)
	n.SetRole(sim.RolePrimary)
	a.writer.Point(n)
}

func (a *auroraCluster) onChange(*netproxy.Node) {
	a.fo.watch(a.writer.Target().Healthy())
}

// promote moves the writer to the first healthy instance in AZ order.
func (a *auroraCluster) promote() {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.writer.Target()
	if old.Healthy() {
		return
	}
	for _, n := range a.nodes {
		if n == old || !n.Healthy() {
			continue
		}
		a.moveWriterLocked(n)
		return
	}
	// No healthy instance: the cluster stays down; try again after the delay.
	a.fo.watch(false)
}

// switchover moves the writer to the next healthy instance in AZ order, as
// a planned Aurora failover does.
func (a *auroraCluster) switchover() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.writer.Target()
	start := slices.Index(a.nodes, old)
	for i := 1; i < len(a.nodes); i++ {
		n := a.nodes[(start+i)%len(a.nodes)]
		if !n.Healthy() {
			continue
		}
		a.moveWriterLocked(n)
		return nil
	}
	return errors.New("mysql switchover: no healthy replica")
}

func (a *auroraCluster) endpoint(topo sim.MySQLTopology) sim.MySQLEndpoint {
	ep := sim.MySQLEndpoint{Addr: a.writer.Addr(), User: topo.User, Password: topo.Password, Database: topo.Database, Readers: map[string]string{}}
	for _, n := range a.nodes {
		ep.Readers[n.AZ()] = n.Front().Addr()
	}
	return ep
}

func (a *auroraCluster) close() {
	a.fo.stop()
	if a.dr != nil {
		a.dr.close()
	}
	if a.writer != nil {
		a.writer.Close()
	}
	for _, n := range a.nodes {
		n.Front().Close()
		a.inst[n].Close()
	}
	if a.storage != nil {
		a.storage.Close()
	}
}
