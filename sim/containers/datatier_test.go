package containers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/moby/moby/client"
	"github.com/redis/go-redis/v9"

	"paysim/sim"
	"paysim/sim/containers/containerstest"
	"paysim/sim/containers/engine"
	"paysim/sim/containers/images"
)

func appDB(t *testing.T, d *DataTier, addr string) *sql.DB {
	t.Helper()
	ep := d.MySQL()
	db, err := openDB(dsn(ep.User, ep.Password, addr, ep.Database, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDataTier(t *testing.T) {
	eng := containerstest.Require(t)
	var steps []string
	d := startTier(t, Options{Progress: func(step string, done, total int) {
		steps = append(steps, fmt.Sprintf("%d/%d %s", done, total, step))
	}})
	t.Logf("setup steps: %s", strings.Join(steps, ", "))
	topo := testTopology()
	ctx := context.Background()
	ep := d.MySQL()

	t.Run("one container per node, labelled with its AZ", func(t *testing.T) {
		res, err := eng.Client().ContainerList(ctx, client.ContainerListOptions{All: true,
			Filters: make(client.Filters).Add("label", engine.RunFilter(d.Run()))})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, c := range res.Items {
			if c.State != "running" {
				t.Errorf("%v is %s", c.Names, c.State)
			}
			got[c.Labels[engine.LabelNode]] = c.Labels[engine.LabelAZ] + " " + c.Labels[engine.LabelService] + " " + c.Labels[engine.LabelRole]
		}
		want := map[string]string{}
		for i, az := range topo.AZs {
			role := "replica"
			if i == 0 {
				role = "primary"
			}
			want["mysql-"+az] = az + " mysql " + role
			want["sentinel-"+az] = az + " redis sentinel"
		}
		want["redis-0-"+topo.AZs[0]] = topo.AZs[0] + " redis primary"
		want["redis-1-"+topo.AZs[1]] = topo.AZs[1] + " redis replica"
		if len(got) != len(want) || len(res.Items) != len(want) {
			t.Fatalf("containers: %v, want %v", got, want)
		}
		for id, w := range want {
			if got[id] != w {
				t.Errorf("%s: labels %q, want %q", id, got[id], w)
			}
		}
	})

	t.Run("every published port is bound to 127.0.0.1", func(t *testing.T) {
		bs, err := eng.Bindings(ctx, d.Run())
		if err != nil {
			t.Fatal(err)
		}
		perContainer := map[string]int{}
		for _, b := range bs {
			perContainer[b.Container]++
			if !b.Loopback() {
				t.Errorf("%s publishes %s on %q:%s, not on loopback", b.Container, b.Port, b.HostIP, b.HostPort)
			}
		}
		if len(perContainer) != len(d.Nodes()) {
			t.Fatalf("bindings found for %d containers, want %d: %v", len(perContainer), len(d.Nodes()), perContainer)
		}
		for _, n := range d.Nodes() {
			if h, _, _ := net.SplitHostPort(n.Addr()); h != "127.0.0.1" {
				t.Errorf("%s: address %s", n.ID(), n.Addr())
			}
		}
	})

	t.Run("MariaDB everywhere", func(t *testing.T) {
		addrs := []string{ep.Addr}
		for _, r := range ep.Readers {
			addrs = append(addrs, r)
		}
		if len(ep.Readers) != len(topo.AZs)-1 {
			t.Fatalf("readers %v, want one per AZ but the first", ep.Readers)
		}
		for _, a := range addrs {
			var v string
			if err := appDB(t, d, a).QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(v, "MariaDB") || !strings.HasPrefix(v, "10.11.") {
				t.Fatalf("%s: VERSION() = %q, want MariaDB 10.11", a, v)
			}
		}
	})

	t.Run("the ledger schema is on every node", func(t *testing.T) {
		for _, n := range d.MySQLNodes() {
			rows, err := appDB(t, d, n.Addr()).QueryContext(ctx, "SHOW TABLES")
			if err != nil {
				t.Fatal(err)
			}
			var tables []string
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				tables = append(tables, s)
			}
			rows.Close()
			sort.Strings(tables)
			if got := strings.Join(tables, ","); got != "accounts,bonus_grants,leases,ledger_entries,outbox,payments" {
				t.Errorf("%s: tables %s", n.ID(), got)
			}
		}
	})

	t.Run("replicas are read-only to the app", func(t *testing.T) {
		for az, r := range ep.Readers {
			_, err := appDB(t, d, r).ExecContext(ctx, "INSERT INTO accounts (id, kind, balance) VALUES ('ro-test', 'user', 1)")
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != 1290 {
				t.Errorf("reader %s accepted or failed oddly: %v (want error 1290, read-only)", az, err)
			}
		}
	})

	t.Run("a row written on the primary appears on each replica", func(t *testing.T) {
		w := appDB(t, d, ep.Addr)
		if _, err := w.ExecContext(ctx, "INSERT INTO accounts (id, kind, balance) VALUES ('repl-1', 'user', 100)"); err != nil {
			t.Fatal(err)
		}
		written := time.Now()
		for az, r := range ep.Readers {
			db := appDB(t, d, r)
			waitFor(t, 30*time.Second, "repl-1 on "+az, func(ctx context.Context) (bool, error) {
				var bal int64
				err := db.QueryRowContext(ctx, "SELECT balance FROM accounts WHERE id = 'repl-1'").Scan(&bal)
				return err == nil && bal == 100, err
			})
			t.Logf("repl-1 visible on %s %v after the commit", az, time.Since(written).Round(time.Millisecond))
		}
	})

	t.Run("a lagging replica answers with the ledger as it was, then catches up", func(t *testing.T) {
		mysqlNodes := d.MySQLNodes()
		lagged, control := mysqlNodes[len(mysqlNodes)-1], mysqlNodes[1]
		for _, bad := range []struct {
			id   string
			lag  time.Duration
			want string
		}{
			{mysqlNodes[0].ID(), time.Second, "it is the writer"},
			{d.RedisNodes()[0].ID(), time.Second, "no MySQL node"},
			{lagged.ID(), 1500 * time.Millisecond, "whole seconds"},
		} {
			if err := d.LagReplica(ctx, bad.id, bad.lag); err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("LagReplica(%s, %v) = %v, want an error saying %q", bad.id, bad.lag, err, bad.want)
			}
		}
		w, lr, cr := appDB(t, d, ep.Addr), appDB(t, d, lagged.Addr()), appDB(t, d, control.Addr())
		balance := func(db *sql.DB) int64 {
			var bal int64
			if err := db.QueryRowContext(ctx, "SELECT balance FROM accounts WHERE id = 'lag-1'").Scan(&bal); err != nil {
				return -1
			}
			return bal
		}
		if _, err := w.ExecContext(ctx, "INSERT INTO accounts (id, kind, balance) VALUES ('lag-1', 'user', 100)"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "lag-1 on "+lagged.ID(), func(context.Context) (bool, error) { return balance(lr) == 100, nil })

		if err := d.LagReplica(ctx, lagged.ID(), 3*time.Second); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.LagReplica(context.Background(), lagged.ID(), 0) })
		if _, err := w.ExecContext(ctx, "UPDATE accounts SET balance = 200 WHERE id = 'lag-1'"); err != nil {
			t.Fatal(err)
		}
		written := time.Now()
		waitFor(t, 30*time.Second, "the update on "+control.ID(), func(context.Context) (bool, error) { return balance(cr) == 200, nil })
		if got := balance(lr); got != 100 {
			t.Fatalf("%s answered %d once %s had the update, want the stale 100", lagged.ID(), got, control.ID())
		}
		applied := written.Add(waitFor(t, 30*time.Second, "the update on "+lagged.ID(), func(context.Context) (bool, error) { return balance(lr) == 200, nil }))
		// MASTER_DELAY counts from the event's timestamp, in whole seconds.
		if late := applied.Sub(written); late < 2*time.Second {
			t.Fatalf("%s applied the update %v after the commit, want about 3s", lagged.ID(), late)
		} else {
			t.Logf("%s applied the update %v after the commit (lag 3s)", lagged.ID(), late.Round(time.Millisecond))
		}

		if err := d.LagReplica(ctx, lagged.ID(), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := w.ExecContext(ctx, "UPDATE accounts SET balance = 300 WHERE id = 'lag-1'"); err != nil {
			t.Fatal(err)
		}
		late := waitFor(t, 30*time.Second, "the next update on "+lagged.ID(), func(context.Context) (bool, error) { return balance(lr) == 300, nil })
		if late >= 3*time.Second {
			t.Fatalf("healed, %s still applied the next update %v after the commit: the delay is in force", lagged.ID(), late)
		}
		t.Logf("healed: %s applied the next update %v after the commit", lagged.ID(), late.Round(time.Millisecond))
	})

	t.Run("Sentinel names the primary", func(t *testing.T) {
		primary := d.RedisNodes()[0]
		for _, addr := range d.SentinelAddrs() {
			c := redis.NewSentinelClient(&redis.Options{Addr: addr})
			got, err := c.GetMasterAddrByName(ctx, MasterName).Result()
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || net.JoinHostPort(got[0], got[1]) != primary.InternalAddr() {
				t.Fatalf("sentinel %s: master %v, want %s", addr, got, primary.InternalAddr())
			}
			if pub, ok := d.PublishedAddr(net.JoinHostPort(got[0], got[1])); !ok || pub != d.Redis().Addr {
				t.Fatalf("PublishedAddr(%v) = %q, %v; want %s", got, pub, ok, d.Redis().Addr)
			}
		}
	})

	t.Run("Redis replicates", func(t *testing.T) {
		p := redis.NewClient(&redis.Options{Addr: d.Redis().Addr})
		r := redis.NewClient(&redis.Options{Addr: d.Redis().Reader})
		defer p.Close()
		defer r.Close()
		if err := p.Set(ctx, "paysim:test", "42", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := r.Set(ctx, "paysim:test", "x", 0).Err(); err == nil || !strings.Contains(err.Error(), "READONLY") {
			t.Fatalf("write on the replica: %v, want READONLY", err)
		}
		waitFor(t, 10*time.Second, "the key on the replica", func(ctx context.Context) (bool, error) {
			v, err := r.Get(ctx, "paysim:test").Result()
			return v == "42", err
		})
	})

	t.Run("kill and restart a replica: it catches up on the same address", func(t *testing.T) {
		n := d.MySQLNodes()[1]
		if err := n.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		if st := n.Status().State; st != sim.StateDown {
			t.Fatalf("state after kill: %s", st)
		}
		if conn, err := net.DialTimeout("tcp", n.Addr(), time.Second); err == nil {
			// docker-proxy may accept; the server must not answer.
			conn.Close()
			if _, err := appDB(t, d, n.Addr()).ExecContext(ctx, "SELECT 1"); err == nil {
				t.Fatal("a killed node answered")
			}
		}
		if _, err := appDB(t, d, ep.Addr).ExecContext(ctx, "INSERT INTO accounts (id, kind, balance) VALUES ('while-down', 'user', 7)"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := n.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s restarted and ready in %v", n.ID(), time.Since(start).Round(time.Millisecond))
		db := appDB(t, d, n.Addr())
		waitFor(t, 30*time.Second, "while-down on the restarted replica", func(ctx context.Context) (bool, error) {
			var bal int64
			err := db.QueryRowContext(ctx, "SELECT balance FROM accounts WHERE id = 'while-down'").Scan(&bal)
			return err == nil && bal == 7, err
		})
	})

	t.Run("isolate and reconnect a replica: it stalls, then catches up", func(t *testing.T) {
		n := d.MySQLNodes()[len(d.MySQLNodes())-1]
		if err := n.Isolate(ctx); err != nil {
			t.Fatal(err)
		}
		if st := n.Status().State; st != sim.StateIsolated {
			t.Fatalf("state after isolate: %s", st)
		}
		if _, err := appDB(t, d, ep.Addr).ExecContext(ctx, "INSERT INTO accounts (id, kind, balance) VALUES ('while-cut', 'user', 9)"); err != nil {
			t.Fatal(err)
		}
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var bal int64
		err := appDB(t, d, n.Addr()).QueryRowContext(qctx, "SELECT balance FROM accounts WHERE id = 'while-cut'").Scan(&bal)
		cancel()
		if err == nil {
			t.Fatal("an isolated replica got the row")
		}
		if err := n.Reconnect(ctx); err != nil {
			t.Fatal(err)
		}
		reconnected := time.Now()
		db := appDB(t, d, n.Addr())
		waitFor(t, 60*time.Second, "while-cut on the reconnected replica", func(ctx context.Context) (bool, error) {
			err := db.QueryRowContext(ctx, "SELECT balance FROM accounts WHERE id = 'while-cut'").Scan(&bal)
			return err == nil && bal == 9, err
		})
		t.Logf("%s caught up %v after reconnecting", n.ID(), time.Since(reconnected).Round(time.Millisecond))
	})

	// What the embedded Redis models and the cache updater relies on: a
	// client's WAIT covers the stream up to where it was after the client's
	// previous command, a read or a write that changed nothing (and was
	// not replicated) too.
	t.Run("WAIT covers the stream up to the client's last command", func(t *testing.T) {
		n := d.RedisNodes()[1]
		client := func() *redis.Client {
			c := redis.NewClient(&redis.Options{Addr: d.Redis().Addr, PoolSize: 1, MaxRetries: -1})
			t.Cleanup(func() { _ = c.Close() })
			return c
		}
		a, noop, reader := client(), client(), client()
		zadd := func() (int64, error) {
			return noop.ZAddArgs(ctx, "paysim:z", redis.ZAddArgs{Ch: true, Members: []redis.Z{{Score: 1, Member: "m"}}}).Result()
		}
		if got, err := zadd(); err != nil || got != 1 {
			t.Fatalf("ZADD before the pause: %d, %v", got, err)
		}
		if err := n.Pause(ctx); err != nil {
			t.Fatal(err)
		}
		resumed := false
		resume := func() {
			if !resumed {
				resumed = true
				if err := n.Resume(ctx); err != nil {
					t.Error(err)
				}
			}
		}
		defer resume()
		// Within RedisMaxLag of the replica's last acknowledgement, before
		// the primary refuses writes: each WAIT below waits 100 ms at most.
		const wait = 100 * time.Millisecond
		steps := []struct {
			name string
			do   func() (int64, error)
			want int64
		}{
			{"a writes", func() (int64, error) { return a.Incr(ctx, "paysim:a").Result() }, 1},
			{"a's WAIT: its write is not acknowledged", func() (int64, error) { return a.Wait(ctx, 1, wait).Result() }, 0},
			{"a write that changes nothing", zadd, 0},
			{"its WAIT covers a's earlier write", func() (int64, error) { return noop.Wait(ctx, 1, wait).Result() }, 0},
			{"a read", func() (int64, error) { return reader.Get(ctx, "paysim:a").Int64() }, 1},
			{"its WAIT covers a's earlier write", func() (int64, error) { return reader.Wait(ctx, 1, wait).Result() }, 0},
		}
		for _, s := range steps {
			if got, err := s.do(); err != nil || got != s.want {
				t.Fatalf("%s: %d, %v; want %d", s.name, got, err, s.want)
			}
		}
		resume()
		for name, c := range map[string]*redis.Client{"writer": a, "no-op writer": noop, "reader": reader} {
			if got, err := c.Wait(ctx, 1, 10*time.Second).Result(); err != nil || got != 1 {
				t.Fatalf("%s's WAIT after resume: %d, %v", name, got, err)
			}
		}
	})

	t.Run("pause and resume the Redis replica: the primary takes no write it cannot replicate", func(t *testing.T) {
		n := d.RedisNodes()[1]
		p := redis.NewClient(&redis.Options{Addr: d.Redis().Addr, MaxRetries: -1})
		defer p.Close()
		if err := n.Pause(ctx); err != nil {
			t.Fatal(err)
		}
		paused := time.Now()
		c := redis.NewClient(&redis.Options{Addr: n.Addr(), DialTimeout: 500 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, MaxRetries: -1})
		defer c.Close()
		if err := c.Ping(ctx).Err(); err == nil {
			t.Fatal("a paused node answered PING")
		}
		waitFor(t, 10*time.Second, "the primary refusing writes (NOREPLICAS)", func(ctx context.Context) (bool, error) {
			err := p.Set(ctx, "paysim:alone", "1", 0).Err()
			return err != nil && strings.Contains(err.Error(), "NOREPLICAS"), nil
		})
		t.Logf("the primary refused writes %v after its replica froze", time.Since(paused).Round(100*time.Millisecond))
		if err := n.Resume(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "PONG after resume", func(ctx context.Context) (bool, error) {
			err := c.Ping(ctx).Err()
			return err == nil, err
		})
		waitFor(t, 10*time.Second, "the primary taking writes again", func(ctx context.Context) (bool, error) {
			err := p.Set(ctx, "paysim:alone", "2", 0).Err()
			return err == nil, err
		})
	})

	t.Run("close removes everything, a paused node too", func(t *testing.T) {
		if err := d.SentinelNodes()[0].Pause(ctx); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		requireNothingLeft(t, eng, d.Run())
	})
}

// A start cancelled half-way (some nodes up, others starting) returns the
// cancellation and leaves nothing labelled with its run behind.
func TestStartCancelledLeavesNothing(t *testing.T) {
	eng := containerstest.Require(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run := engine.NewRunID(time.Now())
	var ready atomic.Int32
	d, err := Start(ctx, Options{Run: run, Topology: testTopology(), Progress: func(string, int, int) {
		if ready.Add(1) == 1 {
			cancel() // the first node is up; the others are being created
		}
	}})
	if err == nil {
		d.Close()
		t.Fatal("a cancelled start succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("start error %v, want the cancellation", err)
	}
	if ready.Load() == 0 {
		t.Fatal("cancelled before any node was up: the test proves nothing")
	}
	requireNothingLeft(t, eng, run)
}

// A panic inside start (here from the progress callback) removes what was
// created, then goes on panicking.
func TestStartPanicLeavesNothing(t *testing.T) {
	eng := containerstest.Require(t)
	run := engine.NewRunID(time.Now())
	defer func() {
		r := recover()
		if r != "boom" {
			t.Fatalf("recovered %v, want the panic to go on", r)
		}
		requireNothingLeft(t, eng, run)
	}()
	topo := testTopology()
	topo.AZs = topo.AZs[:1]
	_, _ = Start(context.Background(), Options{Run: run, Topology: topo, NoSchema: true, Progress: func(string, int, int) {
		panic("boom")
	}})
}

func TestStartRejects(t *testing.T) {
	noAZs := testTopology()
	noAZs.AZs = nil
	noUser := testTopology()
	noUser.MySQL.User = ""
	tests := []struct {
		name string
		opt  Options
		want string
	}{
		{"no AZs", Options{Topology: noAZs}, "no AZs"},
		{"no MySQL user", Options{Topology: noUser}, "needs a user"},
		{"bad run id", Options{Topology: testTopology(), Run: "Bad Run"}, "run id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Start(context.Background(), tt.opt); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// A missing image is an environment error naming the command that builds
// it; nothing is created (and nothing is pulled).
func TestStartWithoutImage(t *testing.T) {
	eng := containerstest.Require(t)
	run := engine.NewRunID(time.Now())
	_, err := Start(context.Background(), Options{Run: run, Topology: testTopology(), Image: "paysim-base:000000000000"})
	if !errors.Is(err, sim.ErrEnvironment) || !errors.Is(err, images.ErrMissing) || !strings.Contains(err.Error(), "paysim images build") {
		t.Fatalf("Start() = %v, want an environment error saying to run paysim images build", err)
	}
	requireNothingLeft(t, eng, run)
}

// A user's image that is missing or lacks what its service runs is an
// environment error (exit 3) before any node starts.
func TestStartWithABadImage(t *testing.T) {
	eng := containerstest.Require(t)
	node, err := nodeImage(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, imgs := range map[string]sim.Images{
		"missing":             {sim.ServiceMySQL: "paysim-test-absent:start"},
		"without the servers": {sim.ServiceRedis: node},
	} {
		t.Run(name, func(t *testing.T) {
			run := engine.NewRunID(time.Now())
			_, err := Start(context.Background(), Options{Run: run, Topology: testTopology(), Images: imgs})
			if !errors.Is(err, sim.ErrEnvironment) || !strings.Contains(err.Error(), "image for") {
				t.Fatalf("Start() = %v, want an environment error naming the image", err)
			}
			requireNothingLeft(t, eng, run)
		})
	}
}

// TestEnsureImage: a missing default image is built, its build's statuses
// reported as setup steps, and then used; an image the caller named is
// never built (the error names the command that builds it); a failed
// build is an error that says why.
func TestEnsureImage(t *testing.T) {
	eng := containerstest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tests := []struct {
		name      string
		canBuild  bool
		buildErr  error
		wantErr   string
		wantSteps bool
	}{
		{name: "missing default image is built", canBuild: true, wantSteps: true},
		{name: "missing image the caller named", wantErr: "paysim images build"},
		{name: "build fails", canBuild: true, buildErr: errors.New("debootstrap: no mirror answers"), wantErr: "debootstrap: no mirror answers", wantSteps: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref := fmt.Sprintf("paysim-base:ensure-test-%d-%d", os.Getpid(), i)
			t.Cleanup(func() {
				_, _ = eng.Client().ImageRemove(context.Background(), ref, client.ImageRemoveOptions{})
			})
			var build func(context.Context, *engine.Engine, images.Options) ([]images.Result, error)
			builds := 0
			if tc.canBuild {
				build = func(ctx context.Context, eng *engine.Engine, opt images.Options) ([]images.Result, error) {
					builds++
					if !slices.Equal(opt.Kinds, []images.Kind{images.KindBase}) {
						t.Errorf("build asked for %v, want the base only", opt.Kinds)
					}
					step := opt.Progress.Step("base")
					step.Status("importing")
					if tc.buildErr != nil {
						step.Done("", tc.buildErr)
						return nil, tc.buildErr
					}
					if _, err := eng.Client().ImageTag(ctx, client.ImageTagOptions{Source: images.BaseRef(), Target: ref}); err != nil {
						return nil, err
					}
					step.Done("built", nil)
					return nil, nil
				}
			}
			var steps []string
			err := ensureImage(ctx, eng, ref, build, func(step string, _, _ int) { steps = append(steps, step) })
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("ensureImage: %v, want error %q", err, tc.wantErr)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.canBuild]; builds != want {
				t.Fatalf("%d builds, want %d", builds, want)
			}
			if got := slices.ContainsFunc(steps, func(s string) bool { return strings.Contains(s, "image base: importing") }); got != tc.wantSteps {
				t.Fatalf("setup steps %q: build status reported %v, want %v", steps, got, tc.wantSteps)
			}
			if tc.wantErr == "" {
				if ok, err := images.Present(ctx, eng, ref); err != nil || !ok {
					t.Fatalf("after the build %s present %v (%v)", ref, ok, err)
				}
			}
		})
	}
}
