package embedded

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"paysim/sim"
	"paysim/sim/embedded/mysqlwire"
	"paysim/sim/netproxy"
)

// drCopy is the ledger's disaster-recovery copy in another region (an Aurora
// global database secondary): a read-only instance over its own storage,
// brought up to date once per ReplicationLag by copying a consistent
// snapshot of the primary storage. What the primary committed since the last
// copy is what a region loss costs (the RPO).
type drCopy struct {
	topo    sim.DRTopology
	src     string // the primary storage's file
	storage *mysqlwire.Storage
	inst    *mysqlwire.Instance
	node    *netproxy.Node

	conn    *sql.Conn // holds the ATTACH of the primary file
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	started bool

	mu       sync.Mutex
	lastCopy time.Time
	copyErr  error
}

func startDR(reg *sim.Registry, px *netproxy.Server, topo sim.Topology, dir, src string, listen listenFunc) (*drCopy, error) {
	d := &drCopy{topo: *topo.DR, src: src, stop: make(chan struct{}), done: make(chan struct{})}
	// The copy's connection attaches the primary's file with its own VFS:
	// both storages hold their WAL the same way.
	st, err := mysqlwire.OpenStorageWith(filepath.Join(dir, "ledger-dr.db"), mysqlwire.StorageOptions{MemoryWAL: true})
	if err != nil {
		return nil, fmt.Errorf("mysql dr: storage: %w", err)
	}
	d.storage = st
	id := topo.DR.DRNodeID()
	d.inst = mysqlwire.NewInstance(st, mysqlwire.Config{
		Addr: "127.0.0.1:0", User: topo.MySQL.User, Password: topo.MySQL.Password, Database: topo.MySQL.Database,
		ReadOnly: true, Name: id, LockWaitTimeout: 5 * time.Second, IdleTxnTimeout: 10 * time.Second, Listen: listen,
	})
	if err := d.inst.Start(); err != nil {
		d.close()
		return nil, fmt.Errorf("mysql dr: %w", err)
	}
	front, err := px.New(id, d.inst.Addr())
	if err != nil {
		d.close()
		return nil, fmt.Errorf("mysql dr: %w", err)
	}
	d.node = netproxy.NewNode(reg, id, sim.ServiceMySQL, topo.DR.Region, sim.RoleReplica, d.inst, front)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if d.conn, err = st.DB().Conn(ctx); err != nil {
		d.close()
		return nil, fmt.Errorf("mysql dr: %w", err)
	}
	if _, err := d.conn.ExecContext(ctx, "ATTACH DATABASE ? AS src", src); err != nil {
		d.close()
		return nil, fmt.Errorf("mysql dr: attach primary: %w", err)
	}
	d.started = true
	go d.run()
	return d, nil
}

// run copies once per lag until halted.
func (d *drCopy) run() {
	defer close(d.done)
	t := time.NewTicker(d.topo.ReplicationLag)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			err := d.copy()
			d.mu.Lock()
			d.copyErr = err
			if err == nil {
				d.lastCopy = time.Now()
			}
			d.mu.Unlock()
			d.node.SetDetail(d.detail())
		}
	}
}

func (d *drCopy) detail() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.copyErr != nil:
		return "DR copy failing: " + d.copyErr.Error()
	case d.lastCopy.IsZero():
		return "DR copy not yet seeded"
	}
	return fmt.Sprintf("DR copy, lag <= %v", d.topo.ReplicationLag)
}

// copy replaces every table of the copy with the primary's, in one
// transaction over one consistent read of the primary.
func (d *drCopy) copy() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := d.conn.QueryContext(ctx, "SELECT type, name, sql FROM src.sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index', name")
	if err != nil {
		return fmt.Errorf("dr copy: schema: %w", err)
	}
	type object struct{ typ, name, sql string }
	var objs []object
	for rows.Next() {
		var o object
		if err := rows.Scan(&o.typ, &o.name, &o.sql); err != nil {
			rows.Close()
			return fmt.Errorf("dr copy: schema: %w", err)
		}
		objs = append(objs, o)
	}
	rows.Close()
	if len(objs) == 0 {
		return nil // the primary has no schema yet
	}
	// A deferred BEGIN: only the copy's own file is locked for writing; the
	// primary (attached) is only read, so its writers never wait.
	if _, err := d.conn.ExecContext(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("dr copy: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_, _ = d.conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	for _, o := range objs {
		var n int
		if err := d.conn.QueryRowContext(ctx, "SELECT count(*) FROM main.sqlite_master WHERE name = ?", o.name).Scan(&n); err != nil {
			return fmt.Errorf("dr copy: %w", err)
		}
		if n == 0 {
			if _, err := d.conn.ExecContext(ctx, o.sql); err != nil {
				return fmt.Errorf("dr copy: create %s: %w", o.name, err)
			}
		}
		if o.typ != "table" {
			continue
		}
		q := quoteIdent(o.name)
		if _, err := d.conn.ExecContext(ctx, "DELETE FROM main."+q); err != nil {
			return fmt.Errorf("dr copy: %s: %w", o.name, err)
		}
		if _, err := d.conn.ExecContext(ctx, "INSERT INTO main."+q+" SELECT * FROM src."+q); err != nil {
			return fmt.Errorf("dr copy: %s: %w", o.name, err)
		}
	}
	if _, err := d.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("dr copy: commit: %w", err)
	}
	committed = true
	return nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// halt stops replication; the copy keeps what it last received.
func (d *drCopy) halt() {
	d.once.Do(func() { close(d.stop) })
	if d.started {
		<-d.done
	}
	if d.node != nil {
		d.node.SetDetail("DR copy, replication stopped")
	}
}

// promote makes the copy writable.
func (d *drCopy) promote() {
	d.halt()
	d.inst.SetReadOnly(false)
	d.node.SetRole(sim.RolePrimary)
	d.node.SetDetail("promoted DR copy")
}

func (d *drCopy) close() {
	d.halt()
	if d.node != nil {
		d.node.Front().Close()
	}
	if d.conn != nil {
		_ = d.conn.Close()
	}
	if d.inst != nil {
		d.inst.Close()
	}
	if d.storage != nil {
		d.storage.Close()
	}
}

// errNoDR is returned by region operations on a topology without DR.
var errNoDR = errors.New("this topology has no DR copy (topology.dr)")
