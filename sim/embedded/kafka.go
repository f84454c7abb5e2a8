package embedded

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"paysim/internal/loopback"
	"paysim/sim"
	"paysim/sim/netproxy"
)

// kafkaCluster is a kfake cluster with one broker per AZ, each behind its own
// proxy. Brokers advertise the proxy address, so clients always go through it.
type kafkaCluster struct {
	topo    sim.KafkaTopology
	c       *kfake.Cluster
	proxies []*netproxy.Proxy // index = broker id
	brokers []*netproxy.Node

	mu         sync.Mutex
	registered map[int32]bool // brokers kfake currently has
	isrFault   *kfake.FaultHandle
	fenceAfter time.Duration
	fences     map[int32]*time.Timer
	stop       chan struct{}
	wg         sync.WaitGroup
}

// advertisedListener listens on an internal port but reports the proxy's
// address, which is what kfake advertises in metadata.
type advertisedListener struct {
	net.Listener
	adv net.Addr
}

func (l advertisedListener) Addr() net.Addr { return l.adv }

// startKafka starts the brokers with their logs under dir: on disk, a long
// run's records sit in the page cache rather than in paysim's heap (kfake
// keeps them in an in-memory file system otherwise: 100 MB in four minutes
// at 1,000 payments/s).
func startKafka(reg *sim.Registry, px *netproxy.Server, topo sim.Topology, dir string) (*kafkaCluster, error) {
	k := &kafkaCluster{
		topo:       topo.Kafka,
		registered: map[int32]bool{},
		fences:     map[int32]*time.Timer{},
		fenceAfter: 6 * time.Second,
		stop:       make(chan struct{}),
	}
	// A fresh log each start: kfake reloads whatever a directory holds.
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("kafka: data dir: %w", err)
	}
	byPort := map[int]*netproxy.Proxy{}
	ports := make([]int, len(topo.AZs))
	for i, az := range topo.AZs {
		p, err := px.New("kafka-"+az, "127.0.0.1:1") // upstream set once kfake listens
		if err != nil {
			k.close()
			return nil, fmt.Errorf("kafka: %w", err)
		}
		k.proxies = append(k.proxies, p)
		_, ps, _ := net.SplitHostPort(p.Addr())
		ports[i], _ = strconv.Atoi(ps)
		byPort[ports[i]] = p
	}
	listen := func(_, address string) (net.Listener, error) {
		_, ps, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		port, _ := strconv.Atoi(ps)
		p, ok := byPort[port]
		if !ok {
			return nil, fmt.Errorf("no proxy for broker port %d", port)
		}
		ln, err := loopback.Listen("127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		if err := p.SetUpstream(ln.Addr().String()); err != nil {
			ln.Close()
			return nil, err
		}
		adv, err := net.ResolveTCPAddr("tcp", p.Addr())
		if err != nil {
			ln.Close()
			return nil, err
		}
		return advertisedListener{Listener: ln, adv: adv}, nil
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(len(topo.AZs)),
		kfake.Ports(ports...),
		kfake.ListenFn(listen),
		kfake.ClusterID("paysim-"+topo.Region),
		kfake.DataDir(dir),
	)
	if err != nil {
		k.close()
		return nil, fmt.Errorf("kafka: start: %w", err)
	}
	k.c = c
	cfg := map[string]string{
		"retention.ms":        strconv.FormatInt(topo.Kafka.Retention.Milliseconds(), 10),
		"min.insync.replicas": strconv.Itoa(topo.Kafka.MinInsyncReplicas),
	}
	// Both topics keep at most 10 minutes: their consumers (and a run's
	// archive of payments, check.TopicArchive) read them within seconds,
	// and kfake holds an index entry per batch in memory, so a longer
	// retention only grows a long run's memory.
	cfg["retention.ms"] = strconv.FormatInt(min(topo.Kafka.Retention, kafkaRetention).Milliseconds(), 10)
	for _, t := range []string{sim.TopicPayments, sim.TopicAppLogs} {
		if err := c.CreateTopic(t, int32(topo.Kafka.Partitions), maps.Clone(cfg)); err != nil {
			k.close()
			return nil, fmt.Errorf("kafka: create topic %s: %w", t, err)
		}
	}
	for i, az := range topo.AZs {
		id := int32(i)
		k.registered[id] = true
		n := netproxy.NewNode(reg, fmt.Sprintf("kafka-%d-%s", i, az), sim.ServiceKafka, az, sim.RoleBroker, netproxy.FuncBackend{
			KillFn:  func() {},
			StartFn: func() error { return nil },
		}, k.proxies[i])
		n.OnChange = func(n *netproxy.Node) { k.onChange(id, n) }
		k.brokers = append(k.brokers, n)
	}
	k.refreshDetails()
	k.wg.Add(1)
	go k.retention()
	return k, nil
}

// onChange reacts to a broker's state: a dead broker leaves the cluster at
// once (leaders move); a paused or isolated one is fenced after the session
// timeout; a broker that comes back rejoins.
func (k *kafkaCluster) onChange(id int32, n *netproxy.Node) {
	k.mu.Lock()
	if t := k.fences[id]; t != nil {
		t.Stop()
		delete(k.fences, id)
	}
	k.mu.Unlock()
	switch n.State() {
	case sim.StateDown:
		k.deregister(id)
	case sim.StateUp:
		k.register(id)
	default:
		k.mu.Lock()
		k.fences[id] = time.AfterFunc(k.fenceAfter, func() { k.deregister(id) })
		k.mu.Unlock()
	}
}

func (k *kafkaCluster) deregister(id int32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.registered[id] {
		return
	}
	live := 0
	for _, r := range k.registered {
		if r {
			live++
		}
	}
	if live > 1 { // kfake keeps at least one broker; the last one is cut by its proxy alone
		if err := k.c.RemoveNode(id); err == nil {
			k.registered[id] = false
		}
	}
	k.updateISRLocked()
	go k.refreshDetails()
}

func (k *kafkaCluster) register(id int32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.registered[id] {
		_, ps, _ := net.SplitHostPort(k.proxies[id].Addr())
		port, _ := strconv.Atoi(ps)
		if _, _, err := k.c.AddNode(id, port); err == nil {
			k.registered[id] = true
		}
	}
	k.updateISRLocked()
	go k.refreshDetails()
}

// updateISRLocked fails produce requests with NOT_ENOUGH_REPLICAS while
// fewer healthy brokers than min.insync.replicas remain.
func (k *kafkaCluster) updateISRLocked() {
	healthy := 0
	for _, b := range k.brokers {
		if b.Healthy() {
			healthy++
		}
	}
	need := min(k.topo.MinInsyncReplicas, len(k.brokers))
	switch {
	case healthy < need && k.isrFault == nil:
		k.isrFault = k.c.Fault(kfake.Fault{
			Keys:  []kmsg.Key{kmsg.Produce},
			Err:   kerr.NotEnoughReplicas,
			Count: -1,
		})
	case healthy >= need && k.isrFault != nil:
		k.isrFault.Remove()
		k.isrFault = nil
	}
}

// refreshDetails records how many partitions each broker leads.
func (k *kafkaCluster) refreshDetails() {
	leads := map[int32]int{}
	total := 0
	for _, t := range []string{sim.TopicPayments, sim.TopicAppLogs} {
		for p := 0; p < k.topo.Partitions; p++ {
			leads[k.c.LeaderFor(t, int32(p))]++
			total++
		}
	}
	for i, b := range k.brokers {
		b.SetDetail(fmt.Sprintf("leads %d/%d", leads[int32(i)], total))
	}
}

// kafkaRetention is the most a topic keeps.
const kafkaRetention = 10 * time.Minute

// retention trims expired records so long runs keep memory bounded.
func (k *kafkaCluster) retention() {
	defer k.wg.Done()
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
			k.c.ApplyRetention()
		}
	}
}

// moveLeaders re-elects every partition's leader (a Kafka leader move).
func (k *kafkaCluster) moveLeaders(context.Context) {
	k.c.ShufflePartitionLeaders()
	k.refreshDetails()
}

func (k *kafkaCluster) bootstrap() []string {
	out := make([]string, len(k.proxies))
	for i, p := range k.proxies {
		out[i] = p.Addr()
	}
	return out
}

func (k *kafkaCluster) close() {
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
	k.wg.Wait()
	k.mu.Lock()
	for _, t := range k.fences {
		t.Stop()
	}
	k.mu.Unlock()
	for _, p := range k.proxies {
		p.Close()
	}
	if k.c != nil {
		k.c.Close()
	}
}
