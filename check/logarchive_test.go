package check

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"paysim/sim"
	"paysim/sim/embedded/search"
	"paysim/sim/payments"
)

// newSearchNode starts one embedded search node with the log template
// and returns its URL.
func newSearchNode(t *testing.T) string {
	t.Helper()
	st := search.NewStoreIn(t.TempDir())
	nd := search.NewNode(st, "az-a", "127.0.0.1:0")
	if err := nd.Start(); err != nil {
		t.Fatalf("start search node: %v", err)
	}
	t.Cleanup(func() { _ = nd.Close(); _ = st.Close() })
	req, err := http.NewRequest(http.MethodPut, nd.URL()+"/_index_template/paysim-logs", strings.NewReader(payments.LogTemplate))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("log template: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("log template: %s", res.Status)
	}
	return nd.URL()
}

// shipLogs bulk-indexes the log ids into index, as the shipper does.
func shipLogs(t *testing.T, url, index string, ids ...string) {
	t.Helper()
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "{\"index\":{\"_index\":%q,\"_id\":%q}}\n{\"log_id\":%q,\"level\":\"info\"}\n", index, id, id)
	}
	res, err := http.Post(url+"/_bulk", "application/x-ndjson", strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("bulk: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("bulk: %s", res.Status)
	}
}

func TestLogIndexNames(t *testing.T) {
	at := time.Date(2026, 12, 2, 15, 47, 31, 0, time.FixedZone("JST", 9*3600))
	name := sim.LogIndex(at)
	if name != "paysim-logs-2026.12.02-06.45" {
		t.Fatalf("LogIndex(%v) = %s", at, name)
	}
	end, ok := sim.LogIndexEnd(name)
	if !ok || !end.Equal(time.Date(2026, 12, 2, 6, 50, 0, 0, time.UTC)) {
		t.Fatalf("LogIndexEnd(%s) = %v, %v", name, end, ok)
	}
	for _, bad := range []string{"paysim-logs-2026.12.02", "paysim-logs-2026.12.02-06.47", "other-2026.12.02-06.45", "paysim-logs-x"} {
		if _, ok := sim.LogIndexEnd(bad); ok {
			t.Errorf("LogIndexEnd(%s) ok, want not a log index", bad)
		}
	}
}

// TestLogArchive: indices whose span ended before the cutoff are archived
// and deleted, the current one stays searchable, IDs returns both; an
// archived index written to again is archived again; the file goes on Close.
func TestLogArchive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := newSearchNode(t)
	now := time.Now()
	old1, old2, cur := sim.LogIndex(now.Add(-20*time.Minute)), sim.LogIndex(now.Add(-10*time.Minute)), sim.LogIndex(now)
	shipLogs(t, url, old1, "a-committed", "b-committed", "c-committed")
	shipLogs(t, url, old2, "d-committed", "b-committed") // b redelivered a span later
	shipLogs(t, url, cur, "e-committed")
	shipLogs(t, url, "paysim-logs-2026.12.02", "f-committed") // not the shipper's name: left alone

	a, err := NewLogArchive(func() string { return url }, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a.pageSize = 2 // several pages per index
	if err := a.Sweep(ctx, now.Add(-LogArchiveGrace)); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	st := a.Stats()
	if !slices.Equal(st.Indices, []string{old1, old2}) || st.IDs != 5 || st.LastErr != nil {
		t.Fatalf("after a sweep: %+v, want %s and %s archived with 5 ids", st, old1, old2)
	}
	left, err := LoadLogIDs(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || !left["e-committed"] || !left["f-committed"] {
		t.Fatalf("left in search: %v, want e and f only", left)
	}
	shipLogs(t, url, old1, "g-committed") // a late line recreates an archived index
	if err := a.Sweep(ctx, now.Add(-LogArchiveGrace)); err != nil {
		t.Fatalf("second sweep: %v", err)
	}
	ids, err := a.IDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for id := range ids {
		got = append(got, strings.TrimSuffix(id, "-committed"))
	}
	slices.Sort(got)
	if want := []string{"a", "b", "c", "d", "e", "f", "g"}; !slices.Equal(got, want) {
		t.Fatalf("IDs: %v, want %v", got, want)
	}
	if st := a.Stats(); len(st.Indices) != 3 || st.IDs != 6 {
		t.Fatalf("after the late line: %+v, want 3 archived indices and 6 ids", st)
	}
	path := a.file.path
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("archive file %s after Close: %v", path, err)
	}
}

// TestLogArchiveSearchDown: a sweep against a search tier that does not
// answer fails and says so, and so does IDs; nothing is claimed archived.
func TestLogArchiveSearchDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := NewLogArchive(func() string { return "http://127.0.0.1:1" }, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if err := a.Sweep(ctx, time.Now()); err == nil || !strings.Contains(err.Error(), "log archive") {
		t.Fatalf("sweep with search down: %v, want a log archive error", err)
	}
	if st := a.Stats(); st.LastErr == nil || st.IDs != 0 || len(st.Indices) != 0 {
		t.Fatalf("stats: %+v", st)
	}
	if _, err := a.IDs(ctx); err == nil {
		t.Fatal("IDs with search down: no error")
	}
}
