package stack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"paysim/check"
	"paysim/report"
	"paysim/sim"
	"paysim/sim/appnode"
	"paysim/sim/containers"
	"paysim/sim/containers/containerstest"
	"paysim/sim/containers/engine"
	"paysim/sim/lb"
	"paysim/sim/payments"
	"paysim/sim/stack"
)

// upContainers brings a containers-mode stack up under run with 20 users
// and 3 merchants of 10,000 yen; the test closes it.
func upContainers(t *testing.T, run string) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	s, err := stack.Up(ctx, stack.Config{
		Mode:     stack.ModeContainers,
		Run:      run,
		Topology: sim.DefaultTopology(),
		Accounts: payments.Accounts{Users: 20, Merchants: 3, InitialBalance: 10_000},
		Dir:      t.TempDir(),
		LB:       lb.Config{Interval: 100 * time.Millisecond, Timeout: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatalf("stack up: %v", err)
	}
	t.Logf("containers stack up in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestContainersStack brings the containers-mode stack up, sends real
// payments through the load balancer to the app tier on MariaDB and Redis
// in containers, and checks the ledger on MariaDB with the checkers'
// own loader; closing it leaves nothing of the run behind.
func TestContainersStack(t *testing.T) {
	eng := containerstest.Require(t)
	run := engine.NewRunID(time.Now())
	t.Cleanup(func() { _, _ = eng.Sweep(context.Background(), run) }) // whatever happens below
	s := upContainers(t, run)
	ctx := context.Background()
	topo := s.Topology()
	ep := s.Endpoints()

	t.Run("the abilities containers mode declares are real", func(t *testing.T) {
		requireAbilitiesReal(t, s, stack.ModeContainers)
	})

	t.Run("registry lists every node with its AZ and role", func(t *testing.T) {
		got := map[string]string{}
		for _, n := range s.Registry().Snapshot() {
			got[n.ID] = fmt.Sprintf("%s %s %s %s", n.Service, n.AZ, n.Role, n.State)
		}
		want := map[string]string{
			"redis-0-" + topo.AZs[0]: "redis " + topo.AZs[0] + " primary up",
			"redis-1-" + topo.AZs[1]: "redis " + topo.AZs[1] + " replica up",
		}
		for i, az := range topo.AZs {
			role := "replica"
			if i == 0 {
				role = "primary"
			}
			want["mysql-"+az] = "mysql " + az + " " + role + " up"
			want["sentinel-"+az] = "redis " + az + " sentinel up"
			want[fmt.Sprintf("kafka-%d-%s", i, az)] = "kafka " + az + " broker up"
			want["es-"+az] = "elasticsearch " + az + " member up"
			want[fmt.Sprintf("app-%s-0", az)] = "app " + az + " member up"
		}
		if len(got) != len(want) {
			t.Errorf("registry has %d nodes, want %d: %v", len(got), len(want), got)
		}
		for id, w := range want {
			if got[id] != w {
				t.Errorf("%s: %q, want %q", id, got[id], w)
			}
		}
		if n := len(s.Nodes()); n != len(want) {
			t.Errorf("Nodes() has %d, want %d", n, len(want))
		}
	})

	t.Run("endpoints are stable loopback addresses in front of the nodes", func(t *testing.T) {
		published := map[string]bool{}
		for _, n := range s.Registry().Snapshot() {
			published[n.Addr] = true
		}
		addrs := []string{ep.MySQL.Addr, ep.Redis.Addr, ep.Redis.Reader}
		for _, r := range ep.MySQL.Readers {
			addrs = append(addrs, r)
		}
		for _, a := range addrs {
			if h, _, err := net.SplitHostPort(a); err != nil || h != "127.0.0.1" {
				t.Errorf("endpoint %q is not on 127.0.0.1", a)
			}
			if published[a] {
				t.Errorf("endpoint %s is a node's own address: it would not survive a failover", a)
			}
		}
		if len(ep.MySQL.Readers) != len(topo.AZs)-1 || len(ep.Redis.Sentinels) != len(topo.AZs) {
			t.Errorf("readers %v, sentinels %v: want one reader per replica AZ and a Sentinel per AZ", ep.MySQL.Readers, ep.Redis.Sentinels)
		}
	})

	t.Run("the ledger is MariaDB at REPEATABLE READ", func(t *testing.T) {
		var version, iso string
		if err := s.Ledger().QueryRowContext(ctx, "SELECT VERSION(), @@tx_isolation").Scan(&version, &iso); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(version, "MariaDB") || iso != "REPEATABLE-READ" {
			t.Fatalf("VERSION() %q, isolation %q: want MariaDB at REPEATABLE-READ", version, iso)
		}
	})

	// Every flow once, the business rejections MariaDB's constraints make
	// (a CHECK failing there is error 4025, not MySQL's 3819), and a replay.
	paid := post(t, s, "/v1/payments", "c-pay", `{"user_id":"u-1","merchant_id":"m-1","amount":1000}`)
	var p struct{ ID string }
	if err := json.Unmarshal([]byte(paid.body), &p); err != nil || paid.status != http.StatusCreated {
		t.Fatalf("payment: %d %s", paid.status, paid.body)
	}
	flows := []struct {
		name, path, key, body string
		status                int
	}{
		{"top-up", "/v1/topups", "c-top", `{"account_id":"u-2","amount":500}`, http.StatusCreated},
		{"transfer", "/v1/transfers", "c-xfer", `{"from":"u-2","to":"u-3","amount":300}`, http.StatusCreated},
		{"refund", "/v1/refunds", "c-refund", `{"payment_id":"` + p.ID + `","amount":400}`, http.StatusCreated},
		{"replay of the payment", "/v1/payments", "c-pay", `{"user_id":"u-1","merchant_id":"m-1","amount":1000}`, http.StatusCreated},
		{"insufficient funds (CHECK balance_nonnegative)", "/v1/payments", "c-broke", `{"user_id":"u-4","merchant_id":"m-1","amount":10001}`, http.StatusPaymentRequired},
		{"refund above paid (CHECK refund_within_amount)", "/v1/refunds", "c-over", `{"payment_id":"` + p.ID + `","amount":601}`, http.StatusUnprocessableEntity},
		{"unknown account (a NULL entry account in strict mode)", "/v1/payments", "c-nobody", `{"user_id":"u-999","merchant_id":"m-1","amount":1}`, http.StatusNotFound},
		{"unknown merchant", "/v1/payments", "c-nowhere", `{"user_id":"u-1","merchant_id":"m-999","amount":1}`, http.StatusNotFound},
		{"a user paid as a merchant", "/v1/payments", "c-kind", `{"user_id":"u-1","merchant_id":"u-2","amount":1}`, http.StatusUnprocessableEntity},
		{"top-up of a merchant", "/v1/topups", "c-topm", `{"account_id":"m-1","amount":5}`, http.StatusUnprocessableEntity},
	}
	for _, tc := range flows {
		t.Run(tc.name, func(t *testing.T) {
			if r := post(t, s, tc.path, tc.key, tc.body); r.status != tc.status {
				t.Fatalf("status %d (%s), want %d", r.status, r.body, tc.status)
			}
		})
	}

	t.Run("concurrent payments to one merchant", func(t *testing.T) {
		// Every payment credits m-2: the writers queue on its row lock, and
		// transfers in both directions between users can deadlock (1213,
		// retried by the app).
		const workers, each = 10, 20
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					path, body := "/v1/payments", fmt.Sprintf(`{"user_id":"u-%d","merchant_id":"m-2","amount":7}`, 5+w)
					if i%2 == 1 {
						path, body = "/v1/transfers", fmt.Sprintf(`{"from":"u-%d","to":"u-%d","amount":3}`, 5+w, 5+(w+1)%workers)
					}
					if r := postQuiet(s, path, fmt.Sprintf("c-burst-%d-%d", w, i), body); r.status != http.StatusCreated {
						errs <- fmt.Errorf("%s %s: %d %s", path, body, r.status, r.body)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	waitDrained(t, s)
	l, err := check.LoadLedger(ctx, s.Ledger())
	if err != nil {
		t.Fatalf("load ledger from MariaDB: %v", err)
	}
	t.Run("the ledger on MariaDB passes the invariants", func(t *testing.T) {
		for _, inv := range []report.Invariant{check.Conservation(l), check.NoNegative(l)} {
			if inv.State() != "pass" {
				t.Errorf("%s: %s (%d violations): %s %v", inv.Name, inv.State(), inv.Violations, inv.Detail, inv.Examples)
			}
		}
		want := map[string]int64{"u-1": 10_000 - 1000 + 400, "u-2": 10_000 + 500 - 300, "u-3": 10_000 + 300, "m-1": 1000 - 400}
		for id, bal := range want {
			if got := l.Accounts[id].Balance; got != bal {
				t.Errorf("%s: balance %d, want %d", id, got, bal)
			}
		}
		if got := l.Accounts["m-2"].Balance; got != 10*10*7 {
			t.Errorf("m-2: balance %d, want %d", got, 10*10*7)
		}
	})

	t.Run("a replica has every committed payment", func(t *testing.T) {
		var az string
		for a := range ep.MySQL.Readers {
			az = a
			break
		}
		reader, err := payments.OpenLedger(ep.MySQL.User, ep.MySQL.Password, ep.MySQL.Readers[az], ep.MySQL.Database, 5*time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Close()
		var primary, replica int
		if err := s.Ledger().QueryRowContext(ctx, "SELECT COUNT(*) FROM payments").Scan(&primary); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 30*time.Second, "the replica in "+az+" to catch up", func(ctx context.Context) error {
			if err := reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM payments").Scan(&replica); err != nil {
				return err
			}
			if replica != primary {
				return fmt.Errorf("%d of %d payments", replica, primary)
			}
			return nil
		})
	})

	t.Run("node faults reach the containers", func(t *testing.T) {
		id := "mysql-" + topo.AZs[len(topo.AZs)-1]
		n, ok := s.Node(id)
		if !ok {
			t.Fatalf("no node %s", id)
		}
		if err := n.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		if st := n.Status().State; st != sim.StateDown {
			t.Fatalf("%s after kill: %s", id, st)
		}
		if err := n.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if st := n.Status().State; st != sim.StateUp {
			t.Fatalf("%s after restart: %s", id, st)
		}
		if r := post(t, s, "/v1/topups", "c-after-restart", `{"account_id":"u-1","amount":1}`); r.status != http.StatusCreated {
			t.Fatalf("top-up after a replica's restart: %d %s", r.status, r.body)
		}
	})

	t.Run("the Kafka brokers run in the node image's container and die through its control", func(t *testing.T) {
		var infos []string
		for _, n := range s.Describe(ctx) {
			if n.Service == sim.ServiceKafka {
				infos = append(infos, n.ID+" "+n.Image)
				if !strings.HasPrefix(n.Image, "paysim-node:") {
					t.Errorf("%s runs in image %q, want the node image", n.ID, n.Image)
				}
			}
		}
		if len(infos) != len(topo.AZs) {
			t.Fatalf("kafka nodes described: %v", infos)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(ep.Kafka.Bootstrap...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		adm := kadm.NewClient(cl)
		// What broker 0 leads, from the cluster's own metadata (kfake keeps
		// a removed broker in the broker list; its partitions move).
		leads := func(ctx context.Context) (int, error) {
			m, err := adm.Metadata(ctx, sim.TopicPayments)
			if err != nil {
				return 0, err
			}
			n := 0
			for _, p := range m.Topics[sim.TopicPayments].Partitions {
				if p.Leader == 0 {
					n++
				}
			}
			return n, nil
		}
		want := func(some bool) func(ctx context.Context) error {
			return func(ctx context.Context) error {
				n, err := leads(ctx)
				if err != nil {
					return err
				}
				if (n > 0) != some {
					return fmt.Errorf("broker 0 leads %d partitions of %s", n, sim.TopicPayments)
				}
				return nil
			}
		}
		// Leaders are placed at random: move them until broker 0 leads.
		leading := func(ctx context.Context) error {
			if err := want(true)(ctx); err == nil {
				return nil
			}
			if err := s.MoveKafkaLeaders(ctx); err != nil {
				return err
			}
			return want(true)(ctx)
		}
		waitUntil(t, 30*time.Second, "broker 0 leading partitions", leading)
		id := fmt.Sprintf("kafka-0-%s", topo.AZs[0])
		n, ok := s.Node(id)
		if !ok {
			t.Fatalf("no node %s", id)
		}
		if err := n.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 30*time.Second, "the killed broker leading nothing", want(false))
		if r := post(t, s, "/v1/topups", "c-kafka-broker-down", `{"account_id":"u-1","amount":1}`); r.status != http.StatusCreated {
			t.Fatalf("top-up with a broker down: %d %s", r.status, r.body)
		}
		if err := n.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		// Back, it leads again once the leaders move.
		waitUntil(t, 30*time.Second, "the broker back, leading partitions", leading)
	})

	t.Run("the search nodes run in the node image's container and die through its control", func(t *testing.T) {
		for _, n := range s.Describe(ctx) {
			if n.Service == sim.ServiceSearch && !strings.HasPrefix(n.Image, "paysim-node:") {
				t.Errorf("%s runs in image %q, want the node image", n.ID, n.Image)
			}
		}
		// Node 0's own address: the search container's published port 9200.
		bs, err := eng.Bindings(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		direct := ""
		for _, b := range bs {
			if strings.HasSuffix(b.Container, "-search") && b.Port == "9200/tcp" && b.HostPort != "" {
				direct = "http://127.0.0.1:" + b.HostPort + "/"
			}
		}
		if direct == "" {
			t.Fatalf("no published port 9200 of the search container in %+v", bs)
		}
		serving := func(want bool) func(ctx context.Context) error {
			return func(ctx context.Context) error {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, direct, nil)
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				if got := err == nil && resp.StatusCode == http.StatusOK; got != want {
					return fmt.Errorf("GET %s serving %v (err %v), want %v", direct, got, err, want)
				}
				return nil
			}
		}
		waitUntil(t, 30*time.Second, "node 0 serving", serving(true))
		n, ok := s.Node("es-" + topo.AZs[0])
		if !ok {
			t.Fatalf("no node es-%s", topo.AZs[0])
		}
		if err := n.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 30*time.Second, "node 0 killed in its container", serving(false))
		// The domain endpoint has moved to a live node.
		waitUntil(t, 30*time.Second, "the domain endpoint answering", func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ep.Elasticsearch.URL+"/_cat/nodes", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET _cat/nodes: %s", resp.Status)
			}
			return nil
		})
		if err := n.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 30*time.Second, "node 0 serving again", serving(true))
	})

	t.Run("an app instance is a container: SIGKILL, docker pause, and a failpoint's crash restarts it", func(t *testing.T) {
		inspectApp := func(id string) container.State {
			t.Helper()
			res, err := eng.Client().ContainerList(ctx, client.ContainerListOptions{All: true,
				Filters: make(client.Filters).Add("label", engine.LabelRun+"="+run).Add("label", engine.LabelNode+"="+id)})
			if err != nil || len(res.Items) != 1 {
				t.Fatalf("container of %s: %d found (%v)", id, len(res.Items), err)
			}
			in, err := eng.Client().ContainerInspect(ctx, res.Items[0].ID, client.ContainerInspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return *in.Container.State
		}
		id := fmt.Sprintf("app-%s-0", topo.AZs[0])
		inspect := func() container.State { t.Helper(); return inspectApp(id) }
		n, ok := s.Node(id)
		if !ok {
			t.Fatalf("no node %s", id)
		}
		if err := n.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		if st := inspect(); st.Running || st.ExitCode != 137 {
			t.Fatalf("%s after kill: running %v exit code %d, want stopped by SIGKILL (137)", id, st.Running, st.ExitCode)
		}
		if err := n.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if st := inspect(); !st.Running || n.Status().State != sim.StateUp {
			t.Fatalf("%s after restart: running %v, registry %s", id, st.Running, n.Status().State)
		}
		p, ok := n.(sim.Pauser)
		if !ok {
			t.Fatalf("%s cannot pause", id)
		}
		if err := p.Pause(ctx); err != nil {
			t.Fatal(err)
		}
		if st := inspect(); !st.Paused {
			t.Errorf("%s after pause: the container is not paused", id)
		}
		// A failpoint set while the instance is frozen reaches it when it
		// thaws; the others get it at once.
		bs, err := eng.Bindings(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		controls := map[string]*appnode.Client{}
		for _, b := range bs {
			if strings.Contains(b.Container, "-app-") && b.Port == fmt.Sprintf("%d/tcp", appnode.ControlPort) {
				controls[b.Container] = appnode.NewClient("127.0.0.1:" + b.HostPort)
			}
		}
		if len(controls) != len(topo.AZs) {
			t.Fatalf("app control ports published: %d, want %d (%+v)", len(controls), len(topo.AZs), bs)
		}
		failpointsOn := func(want string) {
			t.Helper()
			for name, c := range controls {
				got, err := c.Failpoints(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if term := got[payments.FPAfterPublish]; term != want {
					t.Errorf("%s: %s = %q, want %q", name, payments.FPAfterPublish, term, want)
				}
			}
		}
		if err := s.EnableFailpoint(ctx, payments.FPAfterPublish, "sleep(1)"); err != nil {
			t.Fatalf("failpoint with an instance frozen: %v", err)
		}
		if err := p.Resume(ctx); err != nil {
			t.Fatal(err)
		}
		if st := inspect(); st.Paused || !st.Running {
			t.Errorf("%s after resume: paused %v running %v", id, st.Paused, st.Running)
		}
		failpointsOn("sleep(1)")
		if err := s.DisableFailpoint(ctx, payments.FPAfterPublish); err != nil {
			t.Fatal(err)
		}
		failpointsOn("")

		// Every instance crashes after its next commit; the stack restarts
		// each crashed container, with the failpoint off by then.
		var apps []string
		first := map[string]string{}
		for _, az := range topo.AZs {
			a := fmt.Sprintf("app-%s-0", az)
			apps = append(apps, a)
			first[a] = inspectApp(a).StartedAt
		}
		if err := s.EnableFailpoint(ctx, payments.FPAfterCommit, `return("crash")`); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2*len(apps); i++ {
			postQuiet(s, "/v1/topups", fmt.Sprintf("c-crash-%d", i), `{"account_id":"u-1","amount":1}`)
		}
		if err := s.DisableFailpoint(ctx, payments.FPAfterCommit); err != nil {
			t.Fatal(err)
		}
		var restarted []string
		waitUntil(t, 60*time.Second, "the crashed instances restarted and in rotation", func(context.Context) error {
			restarted = restarted[:0]
			for _, a := range apps {
				if st, _ := s.Registry().Get(a); st.State != sim.StateUp {
					return fmt.Errorf("%s is %s", a, st.State)
				}
				if inspectApp(a).StartedAt != first[a] {
					restarted = append(restarted, a)
				}
			}
			if len(restarted) == 0 {
				return errors.New("no instance restarted")
			}
			for _, ts := range s.Balancer().Status() {
				if !ts.Healthy {
					return fmt.Errorf("the load balancer has %s out of rotation", ts.Name)
				}
			}
			return nil
		})
		t.Logf("crashed by the failpoint and restarted: %v", restarted)
		if r := post(t, s, "/v1/topups", "c-after-crashes", `{"account_id":"u-1","amount":1}`); r.status != http.StatusCreated {
			t.Fatalf("top-up after the crashes: %d %s", r.status, r.body)
		}
	})

	cs, ok := s.Backend().(*containers.Stack)
	if !ok {
		t.Fatalf("backend is a %T, want *containers.Stack", s.Backend())
	}
	if cs.Run() != run {
		t.Fatalf("run id %q, want %q", cs.Run(), run)
	}

	t.Run("the writer endpoint moves to another node", func(t *testing.T) {
		readOnly := func(id string) int {
			t.Helper()
			if err := cs.PointWriter(id); err != nil {
				t.Fatal(err)
			}
			db, err := payments.OpenLedger(ep.MySQL.User, ep.MySQL.Password, ep.MySQL.Addr, ep.MySQL.Database, 5*time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var ro int
			if err := db.QueryRowContext(ctx, "SELECT @@read_only").Scan(&ro); err != nil {
				t.Fatal(err)
			}
			return ro
		}
		if ro := readOnly("mysql-" + topo.AZs[1]); ro != 1 {
			t.Errorf("writer endpoint on a replica: read_only = %d, want 1", ro)
		}
		if ro := readOnly("mysql-" + topo.AZs[0]); ro != 0 {
			t.Errorf("writer endpoint back on the primary: read_only = %d, want 0", ro)
		}
		if err := cs.PointWriter("redis-0-" + topo.AZs[0]); err == nil {
			t.Error("the writer endpoint accepted a Redis node")
		}
	})

	t.Run("the app instances find the Redis primary through Sentinel", func(t *testing.T) {
		// go-redis's failover client subscribes to +switch-master on the
		// Sentinel it asked; the stack's own follower only polls.
		apps := len(topo.AZs) * topo.App.InstancesPerAZ
		waitUntil(t, 30*time.Second, "every app instance subscribed to a Sentinel", func(ctx context.Context) error {
			subs := 0
			for _, addr := range ep.Redis.Sentinels {
				c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
				list, err := c.Do(ctx, "CLIENT", "LIST").Text()
				_ = c.Close()
				if err != nil {
					return fmt.Errorf("CLIENT LIST on %s: %w", addr, err)
				}
				for _, l := range strings.Split(list, "\n") {
					if f := strings.Fields(l); slices.ContainsFunc(f, func(kv string) bool { return strings.HasPrefix(kv, "sub=") && kv != "sub=0" }) {
						subs++
					}
				}
			}
			if subs < apps {
				return fmt.Errorf("%d subscribers on the Sentinels, want >= %d (one per app instance)", subs, apps)
			}
			return nil
		})
	})

	t.Run("the Redis endpoint follows Sentinel's failover", func(t *testing.T) {
		oldID, newID := "redis-0-"+topo.AZs[0], "redis-1-"+topo.AZs[1]
		old, ok := s.Node(oldID)
		if !ok {
			t.Fatalf("no node %s", oldID)
		}
		rdb := redis.NewClient(&redis.Options{Addr: ep.Redis.Addr, MaxRetries: -1})
		defer rdb.Close()
		killed := time.Now()
		if err := old.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		// Alone, the promoted replica is the primary but takes no writes
		// (min-replicas-to-write): none until the old primary is back as
		// its replica.
		waitUntil(t, 60*time.Second, "the Redis endpoint on the promoted replica", func(ctx context.Context) error {
			role, err := rdb.Do(ctx, "ROLE").Slice()
			if err != nil {
				return err
			}
			if len(role) == 0 || role[0] != "master" {
				return fmt.Errorf("the endpoint's node is %v", role)
			}
			if st, _ := s.Registry().Get(newID); st.Role != sim.RolePrimary {
				return fmt.Errorf("%s is %s in the registry", newID, st.Role)
			}
			return nil
		})
		t.Logf("the Redis endpoint on %s %v after the primary was killed", newID, time.Since(killed).Round(10*time.Millisecond))
		if st, _ := s.Registry().Get(oldID); st.Role != sim.RoleReplica {
			t.Errorf("%s is %s in the registry, want replica", oldID, st.Role)
		}
		if err := old.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 60*time.Second, "writes on the new primary once the old one replicates it", func(ctx context.Context) error {
			return rdb.Set(ctx, "paysim:failover", "1", 0).Err()
		})
		if r := post(t, s, "/v1/topups", "c-after-failover", `{"account_id":"u-1","amount":1}`); r.status != http.StatusCreated {
			t.Fatalf("top-up after the Redis failover: %d %s", r.status, r.body)
		}
	})

	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if left, err := eng.Leftovers(ctx, run); err != nil || len(left) > 0 {
		t.Fatalf("after close, run %s left %v (%v)", run, left, err)
	}
}

// TestContainersModeWithoutEngine: no Docker engine is an environment
// error, with one line saying what to do.
func TestContainersModeWithoutEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/paysim-test.sock")
	_, err := stack.Up(context.Background(), stack.Config{
		Mode: stack.ModeContainers, Topology: sim.DefaultTopology(),
		Accounts: payments.Accounts{Users: 2, Merchants: 1, InitialBalance: 1},
	})
	if !errors.Is(err, stack.ErrEnvironment) {
		t.Fatalf("err = %v, want an environment error", err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "no Docker engine") || !strings.Contains(msg, "--mode embedded") {
		t.Fatalf("error %q: want one line naming the missing engine and what to do", msg)
	}
}

// postQuiet is post for goroutines other than the test's: it never calls
// t.Fatal.
func postQuiet(s *stack.Stack, path, key, body string) reply {
	req, err := http.NewRequest(http.MethodPost, s.Endpoints().API.URL+path, strings.NewReader(body))
	if err != nil {
		return reply{0, err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{0, err.Error()}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(raw)}
}

// waitUntil polls cond until it returns nil or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond(ctx)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, err)
		case <-tick.C:
		}
	}
}
