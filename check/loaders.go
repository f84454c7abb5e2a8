package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"paysim/sim"
)

// LogIndexPattern matches the indices the log shipper writes.
const LogIndexPattern = sim.LogIndexPattern

// logPageSize is one search_after page: the most a search may return.
const logPageSize = 10_000

// LoadTopic reads every record of topic from the log start offsets up to the
// high watermarks listed when it begins, and decodes each as a payments
// Event. Records that do not decode are skipped (the consumers skip them
// too), so the payment they stood for counts as undelivered. A topic that
// does not exist yet reads as empty. ctx bounds the whole read.
func LoadTopic(ctx context.Context, brokers []string, topic string) ([]Event, error) {
	var evs []Event
	err := loadTopic(ctx, brokers, topic, func(ev Event) { evs = append(evs, ev) })
	return evs, err
}

// topicFetchBytes bounds one fetch: kgo's default of 50 MB per fetch held
// about 80 MB of buffers while the checks read a long run's topic.
const topicFetchBytes = 4 << 20

// loadTopic is LoadTopic handing each event to fn as it is read.
func loadTopic(ctx context.Context, brokers []string, topic string, fn func(Event)) error {
	expired, err := loadTopicFrom(ctx, brokers, topic, nil, fn)
	if err == nil && expired > 0 {
		err = fmt.Errorf("load topic: %d records of %s expired (retention) before they were read", expired, topic)
	}
	return err
}

// loadTopicFrom hands fn every event of topic from the offsets in after
// (per partition; a partition not in it from offset 0) up to the high
// watermarks. Records below a partition's log start that after still
// wanted were removed by retention: they are counted in expired, not read.
func loadTopicFrom(ctx context.Context, brokers []string, topic string, after map[int32]int64, fn func(Event)) (expired int64, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.MetadataMinAge(250*time.Millisecond),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.ClientID("paysim-check"),
		kgo.FetchMaxBytes(topicFetchBytes), kgo.FetchMaxPartitionBytes(1<<20))
	if err != nil {
		return 0, fmt.Errorf("load topic: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("load topic: start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("load topic: end offsets: %w", err)
	}
	from := map[int32]kgo.Offset{}
	until := map[int32]int64{} // partition -> high watermark still to reach
	var perr error
	ends.Each(func(e kadm.ListedOffset) {
		if e.Err != nil {
			if !errors.Is(e.Err, kerr.UnknownTopicOrPartition) {
				perr = errors.Join(perr, fmt.Errorf("partition %d: %w", e.Partition, e.Err))
			}
			return
		}
		s, ok := starts.Lookup(e.Topic, e.Partition)
		if !ok || s.Err != nil {
			perr = errors.Join(perr, fmt.Errorf("partition %d: no start offset: %v", e.Partition, s.Err))
			return
		}
		start := after[e.Partition]
		if s.Offset > start {
			expired += min(s.Offset, e.Offset) - start
			start = s.Offset
		}
		if e.Offset > start {
			from[e.Partition] = kgo.NewOffset().At(start)
			until[e.Partition] = e.Offset
		}
	})
	if perr != nil {
		return expired, fmt.Errorf("load topic: end offsets: %w", perr)
	}
	if len(until) == 0 {
		return expired, nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: from})
	for len(until) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return expired, fmt.Errorf("load topic: %d partitions short of their high watermark: %w", len(until), err)
		}
		for _, fe := range fs.Errors() {
			var loss *kgo.ErrDataLoss
			if errors.As(fe.Err, &loss) {
				expired += max(loss.ResetTo-loss.ConsumedTo, 0) // retention passed the reader
				continue
			}
			return expired, fmt.Errorf("load topic: partition %d: %w", fe.Partition, fe.Err)
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			end, open := until[p.Partition]
			if !open {
				return
			}
			if p.HighWatermark >= 0 && p.HighWatermark < end {
				end = p.HighWatermark // the log was truncated since the listing
			}
			for _, r := range p.Records {
				if r.Offset >= end {
					break
				}
				if ev, ok := decodeEvent(r.Value); ok {
					fn(ev)
				}
				if r.Offset+1 >= end {
					break
				}
			}
			if n := len(p.Records); n > 0 && p.Records[n-1].Offset+1 >= end {
				delete(until, p.Partition)
			}
		})
	}
	return expired, nil
}

// decodeEvent decodes a payments record, sharing one copy of the strings a
// long topic repeats.
func decodeEvent(b []byte) (Event, bool) {
	var ev Event
	if json.Unmarshal(b, &ev) != nil {
		return Event{}, false
	}
	for _, f := range []*string{&ev.Kind, &ev.From, &ev.To, &ev.RefundOf, &ev.Instance, &ev.AZ} {
		*f = intern(*f)
	}
	return ev, true
}

// LoadLogIDs returns the ids of every document in the paysim-logs-* indices
// (the shipper uses the log id as document id). It refreshes the indices
// first, since search only sees refreshed writes, then pages through them
// with search_after on log_id (a keyword in the paysim-logs template). No index yet reads as empty.
func LoadLogIDs(ctx context.Context, esURL string) (map[string]bool, error) {
	return loadLogIDs(ctx, esURL, logPageSize)
}

// loadLogIDs is LoadLogIDs with a page size (tests page through few docs).
func loadLogIDs(ctx context.Context, esURL string, pageSize int) (map[string]bool, error) {
	ids := map[string]bool{}
	return ids, addLogIDs(ctx, esURL, pageSize, ids)
}

// addLogIDs adds the ids of every document in the log indices to ids.
func addLogIDs(ctx context.Context, esURL string, pageSize int, ids map[string]bool) error {
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{esURL}})
	if err != nil {
		return fmt.Errorf("load logs: %w", err)
	}
	return scanLogIDs(ctx, es, LogIndexPattern, pageSize, func(id string) error { ids[id] = true; return nil })
}

// scanLogIDs refreshes the indices of expr and calls fn with every
// document id in them, page by page. A missing index reads as empty.
func scanLogIDs(ctx context.Context, es *elasticsearch.Client, expr string, pageSize int, fn func(id string) error) error {
	res, err := es.Indices.Refresh(es.Indices.Refresh.WithContext(ctx), es.Indices.Refresh.WithIndex(expr),
		es.Indices.Refresh.WithIgnoreUnavailable(true), es.Indices.Refresh.WithAllowNoIndices(true))
	if err != nil {
		return fmt.Errorf("load logs: refresh: %w", err)
	}
	done, err := esDone(res.StatusCode, res.Status(), res.Body)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if done || err != nil {
		return err
	}
	var after []json.RawMessage
	for {
		q := map[string]any{
			"size":             pageSize,
			"query":            map[string]any{"match_all": map[string]any{}},
			"sort":             []any{map[string]any{"log_id": map[string]any{"order": "asc", "unmapped_type": "keyword"}}},
			"_source":          false,
			"track_total_hits": false,
		}
		if after != nil {
			q["search_after"] = after
		}
		body, err := json.Marshal(q)
		if err != nil {
			return fmt.Errorf("load logs: %w", err)
		}
		res, err := es.Search(es.Search.WithContext(ctx), es.Search.WithIndex(expr), es.Search.WithBody(bytes.NewReader(body)),
			es.Search.WithIgnoreUnavailable(true), es.Search.WithAllowNoIndices(true))
		if err != nil {
			return fmt.Errorf("load logs: search: %w", err)
		}
		raw, rerr := io.ReadAll(res.Body)
		res.Body.Close()
		if rerr != nil {
			return fmt.Errorf("load logs: search: %w", rerr)
		}
		if done, err := esDone(res.StatusCode, res.Status(), bytes.NewReader(raw)); done || err != nil {
			return err
		}
		var page struct {
			Hits struct {
				Hits []struct {
					ID   string            `json:"_id"`
					Sort []json.RawMessage `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return fmt.Errorf("load logs: decode: %w", err)
		}
		hits := page.Hits.Hits
		for _, h := range hits {
			if err := fn(h.ID); err != nil {
				return err
			}
		}
		if len(hits) < pageSize {
			return nil
		}
		after = hits[len(hits)-1].Sort
		if len(after) == 0 || string(after[0]) == "null" {
			// Documents without a log_id sort last and cannot be paged past;
			// the shipper never writes one.
			return nil
		}
	}
}

// esDone reads an Elasticsearch answer's status: a 404 (no such index)
// means there is nothing to read; another error status is an error.
func esDone(code int, status string, body io.Reader) (bool, error) {
	switch {
	case code == http.StatusNotFound:
		return true, nil
	case code >= 300:
		msg, _ := io.ReadAll(io.LimitReader(body, 512))
		return true, fmt.Errorf("load logs: %s: %s", status, strings.TrimSpace(string(msg)))
	}
	return false, nil
}

// LoadCache reads every cached balance: it scans the balance keys (see
// BalanceCacheKey), takes each sorted set's top member and decodes it
// with ParseCachedBalance. A key that vanished meanwhile (expired
// or invalidated) is skipped; a malformed member is an error.
func LoadCache(ctx context.Context, redisAddr string) (map[string]CachedBalance, error) {
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	prefix := BalanceCacheKey("")
	out := map[string]CachedBalance{}
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+"*", 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("load cache: scan: %w", err)
		}
		if len(keys) > 0 {
			pipe := rdb.Pipeline()
			tops := make([]*redis.StringSliceCmd, len(keys))
			for i, k := range keys {
				tops[i] = pipe.ZRevRange(ctx, k, 0, 0)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return nil, fmt.Errorf("load cache: %w", err)
			}
			for i, k := range keys {
				top := tops[i].Val()
				if len(top) == 0 {
					continue
				}
				id := strings.TrimPrefix(k, prefix)
				b, ok := ParseCachedBalance(id, top[0])
				if !ok {
					return nil, fmt.Errorf("load cache: key %s: malformed member %q", k, top[0])
				}
				out[id] = b
			}
		}
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}
