// Package kafkanode is paysim's Kafka cluster: kfake brokers, one per AZ,
// run in the stack's own process (embedded mode) or alone in a container of
// the node image (containers mode, `paysim node kafka`), and the Control the
// stack breaks its brokers through, in-process or over HTTP.
package kafkanode

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Control is what the stack does to a cluster's brokers.
type Control interface {
	// RemoveBroker takes a broker out of the cluster: its partitions'
	// leaders move to the others and it stops listening.
	RemoveBroker(ctx context.Context, id int32) error
	// AddBroker brings a removed broker back on its port.
	AddBroker(ctx context.Context, id int32) error
	// RefuseProduce makes every produce request fail with
	// NOT_ENOUGH_REPLICAS while on (fewer in-sync replicas than required).
	RefuseProduce(ctx context.Context, on bool) error
	// ShuffleLeaders re-elects every partition's leader.
	ShuffleLeaders(ctx context.Context) error
	// Leaders counts the partitions each broker leads.
	Leaders(ctx context.Context) (map[int32]int, error)
}

// Settings are a cluster's shape, the same wherever it runs.
type Settings struct {
	ClusterID string
	// Brokers is how many brokers there are, ids 0..Brokers-1.
	Brokers int
	// Topics are created with Partitions partitions each.
	Topics     []string
	Partitions int
	// Retention is how long records are kept (trimmed every 10 s).
	Retention time.Duration
	// MinInsyncReplicas is the topics' min.insync.replicas.
	MinInsyncReplicas int
}

// Validate says what is wrong with the settings, if anything.
func (s Settings) Validate() error {
	switch {
	case s.Brokers < 1:
		return fmt.Errorf("brokers %d: want at least 1", s.Brokers)
	case s.Partitions < 1:
		return fmt.Errorf("partitions %d: want at least 1", s.Partitions)
	case s.Retention <= 0:
		return fmt.Errorf("retention %s: want more than 0", s.Retention)
	case s.MinInsyncReplicas < 1:
		return fmt.Errorf("min.insync.replicas %d: want at least 1", s.MinInsyncReplicas)
	}
	return nil
}

// Config is how a cluster starts here.
type Config struct {
	Settings
	// DataDir holds the brokers' logs (kfake reloads what it holds: give it
	// an empty one).
	DataDir string
	// Ports are the brokers' ports as kfake knows them (index = broker id);
	// AddBroker listens on the same port again.
	Ports []int
	// Listen opens broker id's listener for its port; the listener's Addr
	// is what the broker advertises to clients (see Advertised).
	Listen func(id int32, port int) (net.Listener, error)
}

// Cluster is a running kfake cluster; it implements Control.
type Cluster struct {
	cfg  Config
	c    *kfake.Cluster
	mu   sync.Mutex
	isr  *kfake.FaultHandle // set while produce is refused
	stop chan struct{}
	wg   sync.WaitGroup
}

var _ Control = (*Cluster)(nil)

// Start starts the brokers and creates the topics.
func Start(cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if len(cfg.Ports) != cfg.Brokers {
		return nil, fmt.Errorf("kafka: %d ports for %d brokers", len(cfg.Ports), cfg.Brokers)
	}
	byPort := map[int]int32{}
	for i, p := range cfg.Ports {
		byPort[p] = int32(i)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(cfg.Brokers),
		kfake.Ports(cfg.Ports...),
		kfake.ClusterID(cfg.ClusterID),
		kfake.DataDir(cfg.DataDir),
	}
	if cfg.Listen != nil {
		opts = append(opts, kfake.ListenFn(func(_, address string) (net.Listener, error) {
			_, ps, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			port, _ := strconv.Atoi(ps)
			id, ok := byPort[port]
			if !ok {
				return nil, fmt.Errorf("no broker on port %d", port)
			}
			return cfg.Listen(id, port)
		}))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: start: %w", err)
	}
	k := &Cluster{cfg: cfg, c: c, stop: make(chan struct{})}
	topicCfg := map[string]string{
		"retention.ms":        strconv.FormatInt(cfg.Retention.Milliseconds(), 10),
		"min.insync.replicas": strconv.Itoa(cfg.MinInsyncReplicas),
		"segment.bytes":       strconv.Itoa(segmentBytes),
	}
	for _, t := range cfg.Topics {
		if err := c.CreateTopic(t, int32(cfg.Partitions), maps.Clone(topicCfg)); err != nil {
			c.Close()
			return nil, fmt.Errorf("kafka: create topic %s: %w", t, err)
		}
	}
	k.wg.Add(1)
	go k.retention()
	return k, nil
}

// segmentBytes is the size at which a partition's log rolls to a new
// segment file. Retention frees whole segments only: with kfake's default
// (100 MB) a partition's file kept every record of a run shorter than about
// 40 minutes at 1,000 payments/s (some 40 KB/s a partition), so the log on
// disk grew for as long as the run. A 1 MiB segment fills in about 30 s.
const segmentBytes = 1 << 20

// retentionEvery is how often expired records are trimmed.
const retentionEvery = 10 * time.Second

// retention trims expired records, so that a long run's log stays bounded.
func (k *Cluster) retention() {
	defer k.wg.Done()
	t := time.NewTicker(retentionEvery)
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

func (k *Cluster) broker(id int32) error {
	if id < 0 || int(id) >= k.cfg.Brokers {
		return fmt.Errorf("%w: broker %d (want 0..%d)", ErrNoBroker, id, k.cfg.Brokers-1)
	}
	return nil
}

// ErrNoBroker is a broker id the cluster does not have.
var ErrNoBroker = errors.New("no such broker")

// RemoveBroker implements Control.
func (k *Cluster) RemoveBroker(_ context.Context, id int32) error {
	if err := k.broker(id); err != nil {
		return err
	}
	return k.c.RemoveNode(id)
}

// AddBroker implements Control.
func (k *Cluster) AddBroker(_ context.Context, id int32) error {
	if err := k.broker(id); err != nil {
		return err
	}
	_, _, err := k.c.AddNode(id, k.cfg.Ports[id])
	return err
}

// RefuseProduce implements Control.
func (k *Cluster) RefuseProduce(_ context.Context, on bool) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case on && k.isr == nil:
		k.isr = k.c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1})
	case !on && k.isr != nil:
		k.isr.Remove()
		k.isr = nil
	}
	return nil
}

// ShuffleLeaders implements Control.
func (k *Cluster) ShuffleLeaders(context.Context) error {
	k.c.ShufflePartitionLeaders()
	return nil
}

// Leaders implements Control.
func (k *Cluster) Leaders(context.Context) (map[int32]int, error) {
	out := map[int32]int{}
	for _, t := range k.cfg.Topics {
		for p := 0; p < k.cfg.Partitions; p++ {
			out[k.c.LeaderFor(t, int32(p))]++
		}
	}
	return out, nil
}

// Close stops the brokers.
func (k *Cluster) Close() {
	select {
	case <-k.stop:
		return
	default:
		close(k.stop)
	}
	k.wg.Wait()
	k.c.Close()
}

// Advertised is a listener that reports another address than the one it
// listens on: kfake advertises its listeners' Addr, and clients must reach
// a broker through its proxy (embedded) or its published port (containers).
func Advertised(ln net.Listener, addr string) (net.Listener, error) {
	adv, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("advertised address %q: %w", addr, err)
	}
	return advertisedListener{Listener: ln, adv: adv}, nil
}

type advertisedListener struct {
	net.Listener
	adv net.Addr
}

func (l advertisedListener) Addr() net.Addr { return l.adv }
