package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"paysim/sim"
)

// DefaultLogBuffer is how many app log lines an instance holds for Kafka
// before it drops new ones (Config.LogBuffer).
const DefaultLogBuffer = 2000

// appLog ships best-effort app log lines to Kafka `app-logs`. It has its
// own producer client, bounded at Config.LogBuffer records, and never
// blocks its caller: a line that finds the buffer full, or that Kafka does
// not take within its delivery timeout, is dropped and counted. A request
// handler must never wait on a log line, and the outbox relay (whose audit
// lines the log-completeness check needs) must never wait behind them: it
// produces on the service's other client.
type appLog struct {
	cl       *kgo.Client
	instance string
	az       string
	m        *metrics
}

// newAppLog starts the app log producer; it dials nothing until the first line.
func newAppLog(cfg Config, m *metrics) (*appLog, error) {
	cl, err := kgo.NewClient(append(cfg.kafkaOpts(),
		kgo.SeedBrokers(cfg.KafkaBrokers...),
		kgo.DefaultProduceTopic(sim.TopicAppLogs),
		kgo.MaxBufferedRecords(cfg.LogBuffer),
		kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(), // leader acks only: a log line may be lost or doubled
		kgo.ProducerLinger(20*time.Millisecond),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.MetadataMaxAge(5*time.Second),
		kgo.RecordDeliveryTimeout(5*time.Second),
		kgo.ProduceRequestTimeout(3*time.Second),
		kgo.ClientID(cfg.Instance+"-applog"),
	)...)
	if err != nil {
		return nil, fmt.Errorf("app log producer: %w", err)
	}
	return &appLog{cl: cl, instance: cfg.Instance, az: cfg.AZ, m: m}, nil
}

// emit queues one log line without waiting; see appLog.
func (l *appLog) emit(level, msg string, fields map[string]any) {
	now := time.Now()
	doc := map[string]any{"@timestamp": now.UTC().Format(time.RFC3339Nano), "level": level, "message": msg,
		"instance": l.instance, "az": l.az, "log_id": fmt.Sprintf("%s-%d", l.instance, now.UnixNano())}
	for k, v := range fields {
		doc[k] = v
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		l.m.logsDropped.WithLabelValues("encode").Inc()
		return
	}
	l.cl.TryProduce(context.Background(), &kgo.Record{Value: raw}, l.done)
}

// done counts a line's outcome (called by the client, never blocking).
func (l *appLog) done(_ *kgo.Record, err error) {
	switch {
	case err == nil:
		l.m.logsSent.Inc()
	case errors.Is(err, kgo.ErrMaxBuffered):
		l.m.logsDropped.WithLabelValues("buffer_full").Inc()
	default:
		l.m.logsDropped.WithLabelValues("not_delivered").Inc()
	}
}

// close drops what is still buffered (best effort: nothing waits for it).
func (l *appLog) close() { l.cl.Close() }
