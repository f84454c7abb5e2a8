package check

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/elastic/go-elasticsearch/v8"
)

// LogStorage is what the log indices hold: documents and the bytes of one
// copy of them (pri.store.size; each replica holds as much again).
type LogStorage struct {
	Docs       int
	StoreBytes int64
}

// MeasureLogStorage refreshes the log indices and reads their documents
// and primary store size from _cat/indices. No index yet reads as empty.
func MeasureLogStorage(ctx context.Context, esURL string) (LogStorage, error) {
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{esURL}})
	if err != nil {
		return LogStorage{}, fmt.Errorf("log storage: %w", err)
	}
	res, err := es.Indices.Refresh(es.Indices.Refresh.WithContext(ctx), es.Indices.Refresh.WithIndex(LogIndexPattern),
		es.Indices.Refresh.WithIgnoreUnavailable(true), es.Indices.Refresh.WithAllowNoIndices(true))
	if err != nil {
		return LogStorage{}, fmt.Errorf("log storage: refresh: %w", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	res, err = es.Cat.Indices(es.Cat.Indices.WithContext(ctx), es.Cat.Indices.WithIndex(LogIndexPattern),
		es.Cat.Indices.WithFormat("json"), es.Cat.Indices.WithBytes("b"), es.Cat.Indices.WithH("index", "docs.count", "pri.store.size"))
	if err != nil {
		return LogStorage{}, fmt.Errorf("log storage: _cat/indices: %w", err)
	}
	defer res.Body.Close()
	if done, err := esDone(res.StatusCode, res.Status(), res.Body); done || err != nil {
		return LogStorage{}, err
	}
	var rows []map[string]any
	if err := json.NewDecoder(res.Body).Decode(&rows); err != nil {
		return LogStorage{}, fmt.Errorf("log storage: decode: %w", err)
	}
	var s LogStorage
	for _, row := range rows {
		docs, err1 := number(row["docs.count"])
		size, err2 := number(row["pri.store.size"])
		if err1 != nil || err2 != nil {
			return LogStorage{}, fmt.Errorf("log storage: index %v: docs.count %v, pri.store.size %v", row["index"], row["docs.count"], row["pri.store.size"])
		}
		s.Docs += int(docs)
		s.StoreBytes += size
	}
	return s, nil
}

// number reads a _cat column, a string in Elasticsearch's JSON or a number.
func number(v any) (int64, error) {
	switch x := v.(type) {
	case string:
		return strconv.ParseInt(x, 10, 64)
	case float64:
		return int64(x), nil
	}
	return 0, fmt.Errorf("not a number: %v", v)
}
