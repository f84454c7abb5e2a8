package embedded

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"paysim/sim"
	"paysim/sim/kafkanode"
	"paysim/sim/netproxy"
)

// kafkaCluster is a Kafka cluster with one broker per AZ, each behind its
// own proxy. Brokers advertise the proxy address, so clients always go
// through it. The brokers run in this process, or where a KafkaRunner puts
// them; either way the cluster breaks them through their kafkanode.Control.
type kafkaCluster struct {
	topo    sim.KafkaTopology
	ctl     kafkanode.Control
	local   *kafkanode.Cluster // the in-process brokers, if they are here
	proxies []*netproxy.Proxy  // index = broker id
	brokers []*netproxy.Node

	mu         sync.Mutex
	registered map[int32]bool // brokers the cluster currently has
	refusing   bool           // produce refused: too few in-sync replicas
	fenceAfter time.Duration
	fences     map[int32]*time.Timer
}

// KafkaRunner runs a Kafka cluster's brokers outside this process
// (containers mode: in a container of the node image).
type KafkaRunner interface {
	// RunKafka starts the brokers, broker i advertising advertise[i] (its
	// proxy here), and returns their control and the address each broker
	// is reached at (its proxy's upstream).
	RunKafka(ctx context.Context, s kafkanode.Settings, advertise []string) (kafkanode.Control, []string, error)
}

// controlTimeout bounds one call to the brokers' control.
const controlTimeout = 5 * time.Second

// startKafka starts the brokers: in-process with their logs under dir (on
// disk, a long run's records sit in the page cache rather than in paysim's
// heap: kfake keeps them in an in-memory file system otherwise, 100 MB in
// four minutes at 1,000 payments/s), or through runner if it is set.
func startKafka(ctx context.Context, reg *sim.Registry, px *netproxy.Server, topo sim.Topology, dir string, runner KafkaRunner, listen listenFunc) (*kafkaCluster, error) {
	k := &kafkaCluster{
		topo:       topo.Kafka,
		registered: map[int32]bool{},
		fences:     map[int32]*time.Timer{},
		fenceAfter: 6 * time.Second,
	}
	ports := make([]int, len(topo.AZs))
	advertise := make([]string, len(topo.AZs))
	for i, az := range topo.AZs {
		p, err := px.New("kafka-"+az, "127.0.0.1:1") // upstream set once the broker listens
		if err != nil {
			k.close()
			return nil, fmt.Errorf("kafka: %w", err)
		}
		k.proxies = append(k.proxies, p)
		advertise[i] = p.Addr()
		_, ps, _ := net.SplitHostPort(p.Addr())
		ports[i], _ = strconv.Atoi(ps)
	}
	// Both topics keep at most 5 minutes: their consumers (and a run's
	// archive of payments, check.TopicArchive) read them within seconds,
	// and kfake holds an index entry per batch in memory, so a longer
	// retention only grows a long run's memory.
	settings := kafkanode.Settings{
		ClusterID: "paysim-" + topo.Region, Brokers: len(topo.AZs),
		Topics: []string{sim.TopicPayments, sim.TopicAppLogs}, Partitions: topo.Kafka.Partitions,
		Retention: min(topo.Kafka.Retention, kafkaRetention), MinInsyncReplicas: topo.Kafka.MinInsyncReplicas,
	}
	if runner != nil {
		ctl, upstreams, err := runner.RunKafka(ctx, settings, advertise)
		if err != nil {
			k.close()
			return nil, fmt.Errorf("kafka: %w", err)
		}
		k.ctl = ctl
		for i, up := range upstreams {
			if err := k.proxies[i].SetUpstream(up); err != nil {
				k.close()
				return nil, fmt.Errorf("kafka: %w", err)
			}
		}
	} else {
		// A fresh log each start: kfake reloads whatever a directory holds.
		if err := os.RemoveAll(dir); err != nil {
			k.close()
			return nil, fmt.Errorf("kafka: data dir: %w", err)
		}
		local, err := kafkanode.Start(kafkanode.Config{
			Settings: settings, DataDir: dir, Ports: ports,
			Listen: func(id int32, _ int) (net.Listener, error) {
				ln, err := listen("127.0.0.1:0")
				if err != nil {
					return nil, err
				}
				if err := k.proxies[id].SetUpstream(ln.Addr().String()); err != nil {
					ln.Close()
					return nil, err
				}
				adv, err := kafkanode.Advertised(ln, k.proxies[id].Addr())
				if err != nil {
					ln.Close()
					return nil, err
				}
				return adv, nil
			},
		})
		if err != nil {
			k.close()
			return nil, err
		}
		k.ctl, k.local = local, local
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
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	if live > 1 { // kfake keeps at least one broker; the last one is cut by its proxy alone
		if err := k.ctl.RemoveBroker(ctx, id); err == nil {
			k.registered[id] = false
		}
	}
	k.updateISRLocked(ctx)
	go k.refreshDetails()
}

func (k *kafkaCluster) register(id int32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	if !k.registered[id] {
		if err := k.ctl.AddBroker(ctx, id); err == nil {
			k.registered[id] = true
		}
	}
	k.updateISRLocked(ctx)
	go k.refreshDetails()
}

// updateISRLocked fails produce requests with NOT_ENOUGH_REPLICAS while
// fewer healthy brokers than min.insync.replicas remain.
func (k *kafkaCluster) updateISRLocked(ctx context.Context) {
	healthy := 0
	for _, b := range k.brokers {
		if b.Healthy() {
			healthy++
		}
	}
	refuse := healthy < min(k.topo.MinInsyncReplicas, len(k.brokers))
	if refuse != k.refusing {
		if err := k.ctl.RefuseProduce(ctx, refuse); err == nil {
			k.refusing = refuse
		}
	}
}

// refreshDetails records how many partitions each broker leads.
func (k *kafkaCluster) refreshDetails() {
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	leads, err := k.ctl.Leaders(ctx)
	if err != nil {
		return
	}
	total := 0
	for _, n := range leads {
		total += n
	}
	for i, b := range k.brokers {
		b.SetDetail(fmt.Sprintf("leads %d/%d", leads[int32(i)], total))
	}
}

// kafkaRetention is the most a topic keeps.
const kafkaRetention = 5 * time.Minute

// moveLeaders re-elects every partition's leader (a Kafka leader move).
func (k *kafkaCluster) moveLeaders(ctx context.Context) error {
	if err := k.ctl.ShuffleLeaders(ctx); err != nil {
		return fmt.Errorf("kafka leader move: %w", err)
	}
	k.refreshDetails()
	return nil
}

func (k *kafkaCluster) bootstrap() []string {
	out := make([]string, len(k.proxies))
	for i, p := range k.proxies {
		out[i] = p.Addr()
	}
	return out
}

func (k *kafkaCluster) close() {
	k.mu.Lock()
	for _, t := range k.fences {
		t.Stop()
	}
	k.mu.Unlock()
	for _, p := range k.proxies {
		p.Close()
	}
	if k.local != nil {
		k.local.Close()
	}
}
