package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TopicArchive copies a topic's records to a file while the run goes on, so
// that the delivery check reads every event of the run whatever the topic's
// retention: Kafka then keeps only a bounded window (kfake holds an index
// entry per batch in memory), and a run longer than the retention still
// has all of its events checked. Events replays the file, then reads what
// the archive had not reached.
type TopicArchive struct {
	brokers func() []string // the cluster now
	topic   string

	mu      sync.Mutex
	file    *spool
	next    map[int32]int64 // per partition, the first offset not archived
	n       int64           // records archived
	expired int64           // records retention removed before they were archived
	err     error           // the first write error
}

// NewTopicArchive creates the archive's file under dir (the system's
// temporary directory when ""); Close removes it.
func NewTopicArchive(brokers func() []string, topic, dir string) (*TopicArchive, error) {
	f, err := newSpool(dir, "paysim-topic-"+topic+"-*")
	if err != nil {
		return nil, fmt.Errorf("topic archive: %w", err)
	}
	return &TopicArchive{brokers: brokers, topic: topic, file: f, next: map[int32]int64{}}, nil
}

// archiveFetchMinBytes lets a broker hold the archive's fetch until this
// much is waiting or FetchMaxWait is over: the archive only has to stay
// ahead of retention, and answered as soon as a record was there it made a
// fetch for nearly every relay batch (hundreds a second at 500 payments/s,
// each through a proxy's TCP listener).
const archiveFetchMinBytes = 256 << 10

// Run consumes the topic from its start and appends every record to the
// file until ctx ends. The client rides out broker faults by itself.
func (a *TopicArchive) Run(ctx context.Context) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.brokers()...), kgo.ConsumeTopics(a.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID("paysim-check-archive"),
		kgo.FetchMaxWait(500*time.Millisecond), kgo.FetchMinBytes(archiveFetchMinBytes),
		kgo.FetchMaxBytes(topicFetchBytes), kgo.FetchMaxPartitionBytes(1<<20))
	if err != nil {
		a.fail(fmt.Errorf("topic archive: %w", err))
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		a.mu.Lock()
		for _, fe := range fs.Errors() {
			var loss *kgo.ErrDataLoss
			if errors.As(fe.Err, &loss) {
				a.expired += max(loss.ResetTo-loss.ConsumedTo, 0)
			}
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < a.next[r.Partition] {
				return // already archived
			}
			a.next[r.Partition] = r.Offset + 1
			a.n++
			if a.err == nil {
				w := a.file.w
				w.WriteString(strconv.Itoa(int(r.Partition)))
				w.WriteByte(' ')
				w.Write(r.Value)
				if err := w.WriteByte('\n'); err != nil {
					a.err = fmt.Errorf("topic archive: %w", err)
				}
			}
		})
		if a.err == nil {
			if err := a.file.w.Flush(); err != nil {
				a.err = fmt.Errorf("topic archive: %w", err)
			}
		}
		a.mu.Unlock()
	}
}

func (a *TopicArchive) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = err
	}
}

// Archived is how many records the archive holds.
func (a *TopicArchive) Archived() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// Events hands fn every event of the topic: the archived ones, then those
// past the archive up to the high watermarks. Call it once Run has
// returned. Records that retention removed before anyone read them make it
// fail: delivery cannot be judged without them.
func (a *TopicArchive) Events(ctx context.Context, fn func(Event)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	err := a.file.each(func(line []byte) {
		if _, value, ok := bytes.Cut(line, []byte{' '}); ok {
			if ev, ok := decodeEvent(value); ok {
				fn(ev)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("topic archive: %w", err)
	}
	expired, err := loadTopicFrom(ctx, a.brokers(), a.topic, a.next, fn)
	if err != nil {
		return err
	}
	if expired += a.expired; expired > 0 {
		return fmt.Errorf("topic archive: %d records of %s expired (retention) before they were archived", expired, a.topic)
	}
	return nil
}

// Close removes the archive's file.
func (a *TopicArchive) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.file.close()
}
