package containers

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	tcexec "github.com/testcontainers/testcontainers-go/exec"

	"paysim/sim"
	"paysim/sim/containers/containerstest"
	"paysim/sim/containers/engine"
)

func TestGtidSeq(t *testing.T) {
	tests := []struct {
		pos  string
		want uint64
	}{
		{"0-1-1234", 1234},
		{"0-1-10,1-2-5", 10},
		{"0-1-10, 1-2-50", 50},
		{"", 0},
		{"garbage", 0},
		{"0-1-x", 0},
	}
	for _, tc := range tests {
		if got := gtidSeq(tc.pos); got != tc.want {
			t.Errorf("gtidSeq(%q) = %d, want %d", tc.pos, got, tc.want)
		}
	}
}

// TestMySQLControlPlane: on real MariaDB, a planned switchover and an
// unplanned loss of the writer each move the writer endpoint to a replica
// that has every acknowledged row; the old writer, once back, is fenced
// (read-only) and replicates from the new one; the registry's roles follow.
// A planned Redis switchover (SENTINEL FAILOVER) moves the Redis endpoint.
func TestMySQLControlPlane(t *testing.T) {
	eng := containerstest.Require(t)
	topo := testTopology()
	topo.MySQL.FailoverAfter = 2 * time.Second
	run := engine.NewRunID(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s, err := StartStack(ctx, topo, StackOptions{Run: run, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		requireNothingLeft(t, eng, run)
		t.Logf("control plane: %s", strings.Join(s.MySQLEvents(), "; "))
	})
	ep := s.Endpoints().MySQL
	writer, err := openDB(dsn(ep.User, ep.Password, ep.Addr, ep.Database, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = writer.Close() })
	writer.SetConnMaxLifetime(0)
	if _, err := writer.ExecContext(ctx, "CREATE TABLE acked (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	acked := 0
	insert := func(n int) {
		t.Helper()
		for range n {
			if _, err := writer.ExecContext(ctx, "INSERT INTO acked VALUES (?)", acked+1); err != nil {
				t.Fatalf("insert %d: %v", acked+1, err)
			}
			acked++
		}
	}
	primary := func() string {
		for _, st := range s.Registry().ByService(sim.ServiceMySQL) {
			if st.Service == sim.ServiceMySQL && st.Role == sim.RolePrimary {
				return st.ID
			}
		}
		return ""
	}
	// requireAll: the node has every acknowledged row.
	requireAll := func(id string) {
		t.Helper()
		n, _ := s.tier.Node(id)
		db, err := openDB(dsn(adminUser, adminPass, n.Addr(), ep.Database, 2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		waitFor(t, 20*time.Second, id+" has every acknowledged row", func(ctx context.Context) (bool, error) {
			var got int
			err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM acked").Scan(&got)
			return err == nil && got == acked, err
		})
	}
	// requireFenced: the node is read-only and replicates from the writer.
	requireFenced := func(id string) {
		t.Helper()
		n, _ := s.tier.Node(id)
		waitFor(t, 30*time.Second, id+" fenced and replicating from "+primary(), func(ctx context.Context) (bool, error) {
			db, err := openDB(dsn(adminUser, adminPass, n.Addr(), "", time.Second))
			if err != nil {
				return false, err
			}
			defer db.Close()
			var ro int
			if err := db.QueryRowContext(ctx, "SELECT @@read_only").Scan(&ro); err != nil {
				return false, err
			}
			st, err := slaveStatus(ctx, db)
			return ro == 1 && st["Master_Host"] == primary() && st["Slave_IO_Running"] == "Yes" && st["Slave_SQL_Running"] == "Yes", err
		})
	}
	first := primary()
	insert(50)
	t.Run("commits wait for a replica (semi-sync)", func(t *testing.T) {
		n, _ := s.tier.Node(first)
		db, err := openDB(dsn(adminUser, adminPass, n.Addr(), "", 2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var name string
		var yes int
		if err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_yes_tx'").Scan(&name, &yes); err != nil {
			t.Fatal(err)
		}
		if yes < 50 {
			t.Fatalf("%s = %d after 50 inserts: commits were acknowledged before a replica had them", name, yes)
		}
	})

	t.Run("latency on the writer slows its clients' path only", func(t *testing.T) {
		n, _ := s.tier.Node(first)
		var readerAZ, readerAddr string
		for az, addr := range ep.Readers {
			readerAZ, readerAddr = az, addr
			break
		}
		reader, err := openDB(dsn(ep.User, ep.Password, readerAddr, ep.Database, 2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Close()
		// roundTrip is one query on a new connection (a dial and a query).
		roundTrip := func(db *sql.DB) time.Duration {
			t.Helper()
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			if err := c.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
			return time.Since(start)
		}
		const delay = 300 * time.Millisecond
		toxic := sim.Toxic{Name: "test-latency", Type: "latency", Stream: "downstream", Attributes: map[string]any{"latency": delay.Milliseconds()}}
		if err := n.AddToxic(ctx, toxic); err != nil {
			t.Fatal(err)
		}
		slow, other := roundTrip(writer), roundTrip(reader)
		if slow < delay {
			t.Errorf("a query through the writer endpoint took %v with %v of latency on %s", slow, delay, first)
		}
		if other >= delay {
			t.Errorf("a query through the %s reader took %v: the writer's latency leaked to another node", readerAZ, other)
		}
		if err := n.RemoveToxic(ctx, toxic.Name); err != nil {
			t.Fatal(err)
		}
		if healed := roundTrip(writer); healed >= delay {
			t.Errorf("a query through the writer endpoint took %v after the latency was removed", healed)
		}
		insert(5) // the writer still takes writes
	})

	t.Run("planned switchover", func(t *testing.T) {
		start := time.Now()
		if err := s.Switchover(ctx, sim.ServiceMySQL); err != nil {
			t.Fatal(err)
		}
		t.Logf("switchover took %v", time.Since(start).Round(time.Millisecond))
		if p := primary(); p == first || p == "" {
			t.Fatalf("primary after switchover: %q (was %q)", p, first)
		}
		insert(50) // the writer endpoint reaches the new primary
		requireAll(primary())
		requireFenced(first)
		requireAll(first)
	})

	t.Run("redis planned switchover", func(t *testing.T) {
		redisPrimary := func() string {
			for _, st := range s.Registry().ByService(sim.ServiceRedis) {
				if st.Role == sim.RolePrimary {
					return st.ID
				}
			}
			return ""
		}
		before, upstream := redisPrimary(), s.redisWriter.Target().ID()
		start := time.Now()
		if err := s.Switchover(ctx, sim.ServiceRedis); err != nil {
			t.Fatal(err)
		}
		t.Logf("redis switchover took %v", time.Since(start).Round(time.Millisecond))
		if s.redisWriter.Target().ID() == upstream {
			t.Fatalf("the Redis endpoint still points at %s", upstream)
		}
		waitFor(t, 5*time.Second, "the registry to name the new Redis primary", func(context.Context) (bool, error) {
			p := redisPrimary()
			return p != "" && p != before, nil
		})
	})

	t.Run("unplanned: the writer dies", func(t *testing.T) {
		old := primary()
		n, _ := s.tier.Node(old)
		insert(20)
		killed := time.Now() // before: the process dies before Kill returns
		if err := n.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		var took time.Duration
		for {
			if _, err := writer.ExecContext(ctx, "INSERT INTO acked VALUES (?)", acked+1); err == nil {
				acked++
				took = time.Since(killed)
				break
			}
			if time.Since(killed) > topo.MySQL.FailoverAfter+30*time.Second {
				t.Fatalf("no write succeeded %v after the writer died; control plane: %v", time.Since(killed), s.MySQLEvents())
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
		t.Logf("writes back %v after the writer died (failover_after %v)", took.Round(time.Millisecond), topo.MySQL.FailoverAfter)
		if took < topo.MySQL.FailoverAfter {
			t.Errorf("writes came back after %v, before failover_after %v: nothing was lost", took, topo.MySQL.FailoverAfter)
		}
		if p := primary(); p == old || p == "" {
			t.Fatalf("primary after failover: %q (was %q)", p, old)
		}
		requireAll(primary())
		if err := n.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		requireFenced(old)
		insert(10)
		requireAll(old)
	})

	t.Run("the writer's AZ cut off from the region", func(t *testing.T) {
		old := primary()
		p, _ := s.tier.Node(old)
		cutAZ := p.AZ()
		var rest []string
		for _, az := range topo.AZs {
			if az != cutAZ {
				rest = append(rest, az)
			}
		}
		var other *Node // a node of another AZ
		for _, n := range s.tier.MySQLNodes() {
			if n.AZ() != cutAZ {
				other = n
				break
			}
		}
		if !reach(ctx, t, other, p) {
			t.Fatalf("%s cannot reach %s before the cut", other.ID(), old)
		}
		insert(10)
		nw := s.Network()
		if err := nw.Impair("cut/out", []string{cutAZ}, rest, sim.LinkImpairment{Cut: true}); err != nil {
			t.Fatal(err)
		}
		if err := nw.Impair("cut/in", rest, []string{cutAZ}, sim.LinkImpairment{Cut: true}); err != nil {
			t.Fatal(err)
		}
		cut := time.Now()
		for _, n := range s.tier.Nodes() {
			if n.AZ() == cutAZ {
				if err := n.Detach(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		if reach(ctx, t, other, p) || reach(ctx, t, p, other) {
			t.Fatalf("%s and %s still reach each other across the cut", other.ID(), old)
		}
		// The host still reaches the cut-off writer (no rule names it), and
		// the control plane fences it: nothing more commits there.
		waitFor(t, 5*time.Second, old+" fenced read-only", func(ctx context.Context) (bool, error) {
			db, err := openDB(dsn(adminUser, adminPass, p.Addr(), "", time.Second))
			if err != nil {
				return false, err
			}
			defer db.Close()
			var ro int
			err = db.QueryRowContext(ctx, "SELECT @@read_only").Scan(&ro)
			return ro == 1, err
		})
		waitFor(t, topo.MySQL.FailoverAfter+30*time.Second, "a writer outside "+cutAZ, func(ctx context.Context) (bool, error) {
			_, err := writer.ExecContext(ctx, "INSERT INTO acked VALUES (?)", acked+1)
			if err == nil {
				acked++
			}
			return err == nil, nil
		})
		t.Logf("writes back %v after the cut; control plane: %v", time.Since(cut).Round(time.Millisecond), s.MySQLEvents())
		np, _ := s.tier.Node(primary())
		if np == nil || np.AZ() == cutAZ {
			t.Fatalf("primary after the cut: %q, in the cut AZ %s", primary(), cutAZ)
		}
		// Writable before its I/O thread stopped, the new writer is then
		// detached from its former primary for good.
		waitFor(t, 15*time.Second, np.ID()+" replicating from nothing", func(ctx context.Context) (bool, error) {
			db, err := openDB(dsn(adminUser, adminPass, np.Addr(), "", time.Second))
			if err != nil {
				return false, err
			}
			defer db.Close()
			st, err := slaveStatus(ctx, db)
			return err == nil && len(st) == 0, err
		})
		requireAll(primary())
		nw.Restore("cut/out")
		nw.Restore("cut/in")
		for _, n := range s.tier.Nodes() {
			if n.AZ() == cutAZ {
				if err := n.Attach(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !reach(ctx, t, other, p) {
			t.Fatalf("%s cannot reach %s after the heal", other.ID(), old)
		}
		requireFenced(old)
		insert(10)
		requireAll(old)
	})

	t.Run("loss between AZs", func(t *testing.T) {
		p, _ := s.tier.Node(primary())
		var rest []string
		for _, az := range topo.AZs {
			if az != p.AZ() {
				rest = append(rest, az)
			}
		}
		if err := s.Network().Impair("loss", []string{p.AZ()}, rest, sim.LinkImpairment{Loss: 0.03}); err != nil {
			t.Fatal(err)
		}
		rules := iptablesRules(ctx, t, p)
		if !strings.Contains(rules, "statistic") || !strings.Contains(rules, "paysim:loss") {
			t.Fatalf("%s has no loss rule:\n%s", p.ID(), rules)
		}
		insert(20) // slower, never lost
		s.Network().Restore("loss")
		if rules := iptablesRules(ctx, t, p); strings.Contains(rules, "paysim:loss") {
			t.Fatalf("%s keeps the loss rule after Restore:\n%s", p.ID(), rules)
		}
		requireAll(primary())
	})
}

// reach says whether from can open a TCP connection to to's port on the
// run's network within 2 s.
func reach(ctx context.Context, t *testing.T, from, to *Node) bool {
	t.Helper()
	host, port, _ := net.SplitHostPort(to.InternalAddr())
	code, out, err := from.ctr.Exec(ctx, []string{"timeout", "2", "bash", "-c", "exec 3<>/dev/tcp/" + host + "/" + port}, tcexec.Multiplexed())
	if err != nil {
		t.Fatalf("exec in %s: %v", from.ID(), err)
	}
	b, _ := io.ReadAll(out)
	t.Logf("%s -> %s: exit %d %s", from.ID(), to.ID(), code, strings.TrimSpace(string(b)))
	return code == 0
}

// iptablesRules lists the node's paysim rules.
func iptablesRules(ctx context.Context, t *testing.T, n *Node) string {
	t.Helper()
	_, out, err := n.ctr.Exec(ctx, []string{"iptables", "-S", paysimChain}, tcexec.Multiplexed())
	if err != nil {
		t.Fatalf("exec in %s: %v", n.ID(), err)
	}
	b, _ := io.ReadAll(out)
	return string(b)
}

// TestControlEventsBounded: a failure repeated every round is noted once,
// and the memory of events stays bounded.
func TestControlEventsBounded(t *testing.T) {
	c := &mysqlControl{}
	for range 3 {
		c.note("failover failed (will retry): %v", "no replica")
	}
	if len(c.events) != 1 {
		t.Fatalf("%d events for one repeated failure, want 1: %v", len(c.events), c.events)
	}
	for i := range 2 * maxEvents {
		c.note("event %d", i)
	}
	if len(c.events) != maxEvents || !strings.HasSuffix(c.events[maxEvents-1], fmt.Sprintf("event %d", 2*maxEvents-1)) {
		t.Fatalf("%d events, last %q: want the newest %d", len(c.events), c.events[len(c.events)-1], maxEvents)
	}
}
