package check

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"paysim/sim"
)

// LogArchiveGrace is how long after its span ends a log index is archived.
// The shipper bounds a bulk request to well under it, so by then no line
// can still reach the index.
const LogArchiveGrace = 2 * time.Minute

// LogArchive keeps the log ids of a run on disk while the search tier keeps
// only its recent logs: during the run it pages the ids of every log index
// whose span ended LogArchiveGrace ago into a file, then deletes the index
// (the retention a log cluster's lifecycle policy applies). The logs
// invariant reads the file and the indices left (IDs). So the search tier
// holds a bounded window of logs whatever the run's length, and what the
// check needs of them streams to disk.
type LogArchive struct {
	esURL func() string // the search endpoint now (a region loss may move it)

	mu       sync.Mutex // serialises sweeps and the file
	file     *spool
	ids      int      // ids written
	indices  []string // indices archived and deleted
	lastErr  error    // the last sweep's error; a later sweep may succeed
	pageSize int
}

// NewLogArchive creates the archive's file under dir (the system's
// temporary directory when ""); Close removes it.
func NewLogArchive(esURL func() string, dir string) (*LogArchive, error) {
	f, err := newSpool(dir, "paysim-log-ids-*")
	if err != nil {
		return nil, fmt.Errorf("log archive: %w", err)
	}
	return &LogArchive{esURL: esURL, file: f, pageSize: logPageSize}, nil
}

// Run sweeps every interval until ctx ends. A failed sweep (a search node
// down) leaves its indices for the next one, or for IDs.
func (a *LogArchive) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			_ = a.Sweep(ctx, now.Add(-LogArchiveGrace))
		}
	}
}

// Sweep archives and deletes every log index whose span ended before
// cutoff. It stops at the first error, which it also keeps for Stats.
func (a *LogArchive) Sweep(ctx context.Context, cutoff time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	err := a.sweep(ctx, cutoff)
	a.lastErr = err
	return err
}

func (a *LogArchive) sweep(ctx context.Context, cutoff time.Time) error {
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{a.esURL()}})
	if err != nil {
		return fmt.Errorf("log archive: %w", err)
	}
	names, err := logIndices(ctx, es)
	if err != nil {
		return err
	}
	for _, name := range names {
		if end, ok := sim.LogIndexEnd(name); !ok || !end.Before(cutoff) {
			continue
		}
		n := 0
		err := scanLogIDs(ctx, es, name, a.pageSize, func(id string) error {
			n++
			_, err := a.file.w.WriteString(id + "\n")
			return err
		})
		if err == nil {
			err = a.file.w.Flush()
		}
		if err != nil {
			return fmt.Errorf("log archive: %s: %w", name, err)
		}
		a.ids += n
		res, err := es.Indices.Delete([]string{name}, es.Indices.Delete.WithContext(ctx))
		if err != nil {
			return fmt.Errorf("log archive: delete %s: %w", name, err)
		}
		_, derr := esDone(res.StatusCode, res.Status(), res.Body)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if derr != nil {
			return fmt.Errorf("log archive: delete %s: %w", name, derr)
		}
		a.indices = append(a.indices, name)
	}
	return nil
}

// logIndices lists the log indices, sorted.
func logIndices(ctx context.Context, es *elasticsearch.Client) ([]string, error) {
	res, err := es.Cat.Indices(es.Cat.Indices.WithContext(ctx), es.Cat.Indices.WithIndex(LogIndexPattern),
		es.Cat.Indices.WithFormat("json"), es.Cat.Indices.WithH("index"))
	if err != nil {
		return nil, fmt.Errorf("log archive: list indices: %w", err)
	}
	defer res.Body.Close()
	if done, err := esDone(res.StatusCode, res.Status(), res.Body); done || err != nil {
		return nil, err
	}
	var rows []struct {
		Index string `json:"index"`
	}
	if err := json.NewDecoder(res.Body).Decode(&rows); err != nil {
		return nil, fmt.Errorf("log archive: list indices: %w", err)
	}
	names := make([]string, 0, len(rows))
	for _, r := range rows {
		names = append(names, r.Index)
	}
	sort.Strings(names)
	return names, nil
}

// LogArchiveStats says what an archive did.
type LogArchiveStats struct {
	IDs     int      // ids archived (a line redelivered in a later span counts twice)
	Indices []string // indices archived and deleted, in order
	LastErr error    // the last sweep's error, nil when it succeeded
}

// Stats reports what the archive did so far.
func (a *LogArchive) Stats() LogArchiveStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return LogArchiveStats{IDs: a.ids, Indices: append([]string(nil), a.indices...), LastErr: a.lastErr}
}

// IDs returns every log id: the archived ones and those of the indices
// still in the search tier (refreshed first, as LoadLogIDs does).
func (a *LogArchive) IDs(ctx context.Context) (map[string]bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make(map[string]bool, a.ids)
	if err := a.file.each(func(line []byte) { ids[string(line)] = true }); err != nil {
		return nil, fmt.Errorf("log archive: %w", err)
	}
	if err := addLogIDs(ctx, a.esURL(), a.pageSize, ids); err != nil {
		return nil, err
	}
	return ids, nil
}

// Close removes the archive's file.
func (a *LogArchive) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.file.close()
}
