package containers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"paysim/sim"
)

// mysqlControl is the control plane that plays Aurora's part for the
// MariaDB nodes, which have no failover of their own:
//
//   - when the writer has not answered for failover_after (killed, paused,
//     cut off), it promotes the most advanced replica (highest GTID position
//     received, once it has applied its relay log), moves the writer
//     endpoint to it and repoints the other replicas;
//   - a node that is neither the writer nor replicating from it (the old
//     writer when it returns, a replica that was down during the promotion)
//     is fenced: read_only, then made a replica of the writer by GTID;
//   - a planned switchover makes the writer read-only, waits until the
//     target has applied everything, and promotes it.
//
// Every commit waits for a replica's acknowledgement (semi-sync after the
// binary log sync, see mariadbScript), so a promoted replica has every
// acknowledged payment: RPO 0, as Aurora's shared storage gives.
type mysqlControl struct {
	s     *Stack
	after time.Duration

	mu      sync.Mutex // serialises promotions, switchovers and fencing
	primary string     // the node the writer endpoint points at
	// fence holds nodes to turn into replicas of the primary when they answer.
	fence map[string]bool
	// cutOff is the writer fenced because it was cut off from the region
	// (Detach), until it is back or failed over.
	cutOff    string
	downSince time.Time
	// events is what the control plane did, for the log and tests.
	events []string
}

// controlInterval is how often the control plane checks the writer.
const controlInterval = 250 * time.Millisecond

func newMySQLControl(s *Stack, after time.Duration) *mysqlControl {
	return &mysqlControl{s: s, after: after, primary: s.tier.MySQLNodes()[0].ID(), fence: map[string]bool{}}
}

// run checks the writer and fences returning nodes until ctx ends.
func (c *mysqlControl) run(ctx context.Context) {
	tick := time.NewTicker(controlInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c.step(ctx)
	}
}

// step is one round of the control loop.
func (c *mysqlControl) step(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, _ := c.s.tier.Node(c.primary)
	switch {
	case p.Detached() && c.cutOff == "":
		// Cut off from the region, an Aurora writer loses its storage
		// quorum and commits nothing more. MariaDB's would go on alone
		// once its semi-sync wait timed out, so it is fenced: read-only,
		// and its clients' connections (a commit awaiting a replica's
		// acknowledgement among them) killed, unacknowledged.
		if err := fenceCutOff(ctx, p.Addr(), c.s.topo.MySQL.User); err != nil {
			c.note("fence %s, cut off (will retry): %v", p.ID(), err)
		} else {
			c.cutOff = p.ID()
			c.note("%s cut off from the region: fenced read-only", p.ID())
		}
	case !p.Detached() && c.cutOff == p.ID():
		// Back before it was failed over: it is the writer still.
		unfence(p)
		c.cutOff = ""
		c.note("%s back in the region before a failover: writable again", p.ID())
	}
	if err := pingMySQL(ctx, p.Addr()); err != nil || p.Detached() {
		now := time.Now()
		if c.downSince.IsZero() {
			c.downSince = now
		}
		if c.after > 0 && now.Sub(c.downSince) >= c.after {
			if err := c.promoteLocked(ctx, "", false); err != nil {
				c.note("failover failed (will retry): %v", err)
			}
		}
	} else {
		c.downSince = time.Time{}
	}
	for id := range c.fence {
		n, _ := c.s.tier.Node(id)
		if n.Detached() || pingMySQL(ctx, n.Addr()) != nil {
			continue
		}
		if err := c.follow(ctx, n); err != nil {
			c.note("fence %s (will retry): %v", id, err)
			continue
		}
		delete(c.fence, id)
		c.note("%s fenced: read-only replica of %s", id, c.primary)
	}
}

// maxEvents bounds the control plane's memory of what it did: a writer lost
// for hours with no replica to promote retries every controlInterval.
const maxEvents = 100

func (c *mysqlControl) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if n := len(c.events); n > 0 && strings.HasSuffix(c.events[n-1], " "+msg) {
		return // the same failure again
	}
	if len(c.events) == maxEvents {
		c.events = append(c.events[:0], c.events[1:]...)
	}
	c.events = append(c.events, time.Now().Format("15:04:05.000")+" "+msg)
}

// Events is what the control plane did, oldest first.
func (c *mysqlControl) Events() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.events...)
}

// switchover is a planned change of writer to the most advanced replica.
func (c *mysqlControl) switchover(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.promoteLocked(ctx, "", true)
}

// promoteLocked promotes target (or the most advanced replica) to writer.
// Planned, the old writer is made read-only first and the target waits for
// everything it wrote; unplanned, the target applies what it received.
func (c *mysqlControl) promoteLocked(ctx context.Context, target string, planned bool) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	old, _ := c.s.tier.Node(c.primary)
	var wantPos string
	if planned {
		db, err := openDB(dsn(adminUser, adminPass, old.Addr(), "", 2*time.Second))
		if err != nil {
			return fmt.Errorf("switchover: %w", err)
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "SET GLOBAL read_only = 1"); err != nil {
			return fmt.Errorf("switchover: fence %s: %w", old.ID(), err)
		}
		if err := db.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&wantPos); err != nil {
			_, _ = db.ExecContext(context.WithoutCancel(ctx), "SET GLOBAL read_only = 0")
			return fmt.Errorf("switchover: position of %s: %w", old.ID(), err)
		}
	}
	best, bestIO, err := c.pick(ctx, target)
	if err != nil {
		if planned {
			unfence(old)
		}
		return err
	}
	if !planned {
		wantPos = bestIO
	}
	began := time.Now()
	if err := promote(ctx, best.Addr(), wantPos); err != nil {
		if planned {
			unfence(old)
		}
		return fmt.Errorf("promote %s: %w", best.ID(), err)
	}
	if err := c.s.PointWriter(best.ID()); err != nil {
		return err
	}
	took := time.Since(began)
	c.primary, c.downSince, c.cutOff = best.ID(), time.Time{}, ""
	for _, n := range c.s.tier.MySQLNodes() {
		role := sim.RoleReplica
		if n.ID() == best.ID() {
			role = sim.RolePrimary
		} else {
			c.fence[n.ID()] = true // repointed in this step's fencing, or when it answers
		}
		c.s.reg.Update(n.ID(), func(st *sim.NodeStatus) { st.Role = role })
	}
	how := "failover"
	if planned {
		how = "switchover"
	}
	c.note("%s: %s promoted at %s in %v, writer endpoint moved (was %s)", how, best.ID(), wantPos, took.Round(time.Millisecond), old.ID())
	// Last, once it is the writer everywhere: its I/O thread applies
	// nothing (the SQL thread is stopped), so a failure is noted only.
	if err := detach(ctx, best.Addr()); err != nil {
		c.note("detach %s from its former primary: %v", best.ID(), err)
	}
	return nil
}

// fenceCutOff makes the writer at addr read-only and kills the
// connections of the app's user.
func fenceCutOff(ctx context.Context, addr, appUser string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	db, err := openDB(dsn(adminUser, adminPass, addr, "", time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "SET GLOBAL read_only = 1"); err != nil {
		return fmt.Errorf("read_only: %w", err)
	}
	rows, err := db.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", appUser)
	if err != nil {
		return fmt.Errorf("connections: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("connections: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		_, _ = db.ExecContext(ctx, "KILL CONNECTION "+strconv.FormatInt(id, 10)) // gone already is fine
	}
	return nil
}

// unfence lets a writer take writes again after a switchover failed or
// once it is back in the region before a failover.
func unfence(n *Node) {
	db, err := openDB(dsn(adminUser, adminPass, n.Addr(), "", 2*time.Second))
	if err != nil {
		return
	}
	defer db.Close()
	_, _ = db.Exec("SET GLOBAL read_only = 0")
}

// pick returns the replica to promote: target if named, else the answering
// replica that has received the most (ties go to topology order), with its
// received position.
func (c *mysqlControl) pick(ctx context.Context, target string) (*Node, string, error) {
	var best *Node
	var bestPos string
	var bestSeq uint64
	var errs []error
	for _, n := range c.s.tier.MySQLNodes() {
		if n.ID() == c.primary || n.Detached() || (target != "" && n.ID() != target) {
			continue
		}
		db, err := openDB(dsn(adminUser, adminPass, n.Addr(), "", time.Second))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st, err := slaveStatus(ctx, db)
		db.Close()
		if err != nil || st["Gtid_IO_Pos"] == "" {
			errs = append(errs, fmt.Errorf("%s: not a replica (%v)", n.ID(), err))
			continue
		}
		if seq := gtidSeq(st["Gtid_IO_Pos"]); best == nil || seq > bestSeq {
			best, bestPos, bestSeq = n, st["Gtid_IO_Pos"], seq
		}
	}
	if best == nil {
		return nil, "", fmt.Errorf("no replica to promote: %w", errors.Join(errs...))
	}
	return best, bestPos, nil
}

// promote makes the replica at addr a writer once it has applied pos.
func promote(ctx context.Context, addr, pos string) error {
	// The read timeout outlasts MASTER_GTID_WAIT's own bound below.
	db, err := openDB(dsn(adminUser, adminPass, addr, "", 12*time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	if pos != "" {
		var r sql.NullInt64
		if err := db.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, 10)", pos).Scan(&r); err != nil {
			return fmt.Errorf("wait for %s: %w", pos, err)
		}
		if !r.Valid || r.Int64 != 0 {
			return fmt.Errorf("did not apply %s within 10s", pos)
		}
	}
	// Writable once it applies nothing more: STOP SLAVE as a whole waits
	// for the I/O thread, ~2 s when it is stuck reading from a primary cut
	// off from the region, so that thread goes after the writer has moved
	// (detach).
	for _, q := range []string{"STOP SLAVE SQL_THREAD", "SET GLOBAL read_only = 0"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// detach ends a promoted writer's own replication (its I/O thread too) and
// forgets its former primary.
func detach(ctx context.Context, addr string) error {
	db, err := openDB(dsn(adminUser, adminPass, addr, "", 12*time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range []string{"STOP SLAVE", "RESET SLAVE ALL"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// follow fences n and makes it a replica of the writer: read-only first; a
// node with no primary of its own (a former writer) starts from what its
// binary log holds.
func (c *mysqlControl) follow(ctx context.Context, n *Node) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := openDB(dsn(adminUser, adminPass, n.Addr(), "", time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "SET GLOBAL read_only = 1"); err != nil {
		return fmt.Errorf("read_only: %w", err)
	}
	st, err := slaveStatus(ctx, db)
	if err != nil {
		return err
	}
	if st["Master_Host"] == c.primary && st["Slave_IO_Running"] == "Yes" && st["Slave_SQL_Running"] == "Yes" {
		return nil
	}
	if len(st) == 0 {
		if _, err := db.ExecContext(ctx, "SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos"); err != nil {
			return fmt.Errorf("slave position: %w", err)
		}
	}
	return startReplication(ctx, n.Addr(), c.primary)
}

// pingMySQL says whether the server at addr answers a query within a second.
func pingMySQL(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	db, err := openDB(dsn(adminUser, adminPass, addr, "", time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	var one int
	return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// gtidSeq is the highest sequence number in a GTID position such as
// "0-1-1234" or "0-1-10,1-2-5".
func gtidSeq(pos string) uint64 {
	var top uint64
	for _, g := range strings.Split(pos, ",") {
		parts := strings.Split(strings.TrimSpace(g), "-")
		if len(parts) != 3 {
			continue
		}
		if n, err := strconv.ParseUint(parts[2], 10, 64); err == nil && n > top {
			top = n
		}
	}
	return top
}
