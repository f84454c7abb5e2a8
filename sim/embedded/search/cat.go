package search

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Version is the Elasticsearch version this server reports.
const Version = "8.15.0"

func (n *Node) handleRoot(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, map[string]any{
		"name":         n.name,
		"cluster_name": ClusterName,
		"cluster_uuid": n.st.uuid,
		"version": map[string]any{
			"number":                              Version,
			"build_flavor":                        "default",
			"build_type":                          "paysim",
			"build_hash":                          "paysim-embedded-bleve",
			"build_date":                          "2024-08-05T10:05:34.233336849Z",
			"build_snapshot":                      false,
			"lucene_version":                      "9.11.1",
			"minimum_wire_compatibility_version":  "7.17.0",
			"minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search",
	})
}

// ---- _cluster/health ----

type healthJSON struct {
	ClusterName                 string  `json:"cluster_name"`
	Status                      string  `json:"status"`
	TimedOut                    bool    `json:"timed_out"`
	NumberOfNodes               int     `json:"number_of_nodes"`
	NumberOfDataNodes           int     `json:"number_of_data_nodes"`
	ActivePrimaryShards         int     `json:"active_primary_shards"`
	ActiveShards                int     `json:"active_shards"`
	RelocatingShards            int     `json:"relocating_shards"`
	InitializingShards          int     `json:"initializing_shards"`
	UnassignedShards            int     `json:"unassigned_shards"`
	UnassignedPrimaryShards     int     `json:"unassigned_primary_shards"`
	DelayedUnassignedShards     int     `json:"delayed_unassigned_shards"`
	NumberOfPendingTasks        int     `json:"number_of_pending_tasks"`
	NumberOfInFlightFetch       int     `json:"number_of_in_flight_fetch"`
	TaskMaxWaitingInQueueMillis int     `json:"task_max_waiting_in_queue_millis"`
	ActiveShardsPercent         float64 `json:"active_shards_percent_as_number"`
}

func healthBody(h Health, indices int) healthJSON {
	total := indices * max(h.NodesTotal, 1)
	active := indices * h.NodesUp
	pct := 100.0
	if total > 0 {
		pct = float64(active) * 100 / float64(total)
	}
	prim := indices
	if h.NodesUp == 0 {
		prim = 0
	}
	return healthJSON{
		ClusterName: ClusterName, Status: h.Status,
		NumberOfNodes: h.NodesUp, NumberOfDataNodes: h.NodesUp,
		ActivePrimaryShards: prim, ActiveShards: active,
		UnassignedShards: total - active, ActiveShardsPercent: pct,
	}
}

var statusRank = map[string]int{"red": 0, "yellow": 1, "green": 2}

// nodesCond parses wait_for_nodes ("3", ">=2", "<3", ">1", "le(3)"...).
func nodesCond(s string) (func(int) bool, error) {
	s = strings.TrimSpace(s)
	ops := []struct {
		prefix string
		f      func(a, b int) bool
	}{
		{">=", func(a, b int) bool { return a >= b }}, {"ge(", func(a, b int) bool { return a >= b }},
		{"<=", func(a, b int) bool { return a <= b }}, {"le(", func(a, b int) bool { return a <= b }},
		{">", func(a, b int) bool { return a > b }}, {"gt(", func(a, b int) bool { return a > b }},
		{"<", func(a, b int) bool { return a < b }}, {"lt(", func(a, b int) bool { return a < b }},
		{"", func(a, b int) bool { return a == b }},
	}
	for _, op := range ops {
		if !strings.HasPrefix(s, op.prefix) {
			continue
		}
		num := strings.TrimSuffix(strings.TrimPrefix(s, op.prefix), ")")
		want, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("parse wait_for_nodes %q: %w", s, err)
		}
		f := op.f
		return func(n int) bool { return f(n, want) }, nil
	}
	return nil, fmt.Errorf("parse wait_for_nodes %q", s)
}

func (n *Node) handleHealth(w http.ResponseWriter, r *http.Request, expr string) {
	q := r.URL.Query()
	indices := -1
	if expr != "" {
		ixs, e := n.st.resolve(expr, false)
		if e != nil {
			writeError(w, r, e)
			return
		}
		indices = len(ixs)
	}
	wantStatus := q.Get("wait_for_status")
	if wantStatus != "" {
		if _, ok := statusRank[wantStatus]; !ok {
			writeError(w, r, illegalArgument("unknown cluster health status [%s]", wantStatus))
			return
		}
	}
	var nodesOK func(int) bool
	if s := q.Get("wait_for_nodes"); s != "" {
		f, err := nodesCond(s)
		if err != nil {
			writeError(w, r, illegalArgument("%v", err))
			return
		}
		nodesOK = f
	}
	timeout := 30 * time.Second
	if s := q.Get("timeout"); s != "" {
		d, err := parseESDuration(s)
		if err != nil {
			writeError(w, r, illegalArgument("failed to parse setting [timeout] with value [%s] as a time value", s))
			return
		}
		timeout = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	for {
		h, changed := n.st.healthAndWait()
		if indices < 0 {
			indices = h.Indices
		}
		ok := (wantStatus == "" || statusRank[h.Status] >= statusRank[wantStatus]) && (nodesOK == nil || nodesOK(h.NodesUp))
		if ok {
			writeJSON(w, r, http.StatusOK, healthBody(h, indices))
			return
		}
		select {
		case <-changed:
			if expr == "" {
				indices = -1
			}
		case <-ctx.Done():
			body := healthBody(h, indices)
			body.TimedOut = true
			writeJSON(w, r, http.StatusRequestTimeout, body)
			return
		}
	}
}

// parseESDuration parses ES time values: 30s, 500ms, 1m, 2h, 1d, or bare ms.
func parseESDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") && !strings.HasSuffix(s, "nd") {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil {
			return 0, fmt.Errorf("parse duration %q: %w", s, err)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("parse duration %q: %w", s, err)
	}
	return d, nil
}

// ---- _nodes ----

func (n *Node) handleNodes(w http.ResponseWriter, r *http.Request) {
	n.st.mu.RLock()
	names := make([]string, 0, len(n.st.nodes))
	for name, up := range n.st.nodes {
		if up {
			names = append(names, name)
		}
	}
	n.st.mu.RUnlock()
	sort.Strings(names)
	nodes := map[string]any{}
	for _, name := range names {
		info := map[string]any{"name": name, "version": Version, "roles": []string{"data", "ingest", "master"}}
		if name == n.name {
			info["http"] = map[string]any{"publish_address": n.Addr(), "bound_address": []string{n.Addr()}}
		}
		nodes[name] = info
	}
	writeJSON(w, r, http.StatusOK, map[string]any{
		"_nodes":       map[string]int{"total": len(names), "successful": len(names), "failed": 0},
		"cluster_name": ClusterName,
		"nodes":        nodes,
	})
}

// ---- _cat ----

// catTable is a _cat result: column names, which are numeric (right
// aligned), and rows.
type catTable struct {
	cols    []string
	numeric map[string]bool
	rows    [][]string
}

func (n *Node) handleCat(w http.ResponseWriter, r *http.Request, what, expr string) {
	var t catTable
	var e *esError
	switch what {
	case "indices":
		t, e = n.catIndices(r, expr)
	case "health":
		t = n.catHealth()
	case "nodes":
		t = n.catNodes()
	case "count":
		t, e = n.catCount(expr)
	default:
		noHandler(w, r)
		return
	}
	if e != nil {
		writeError(w, r, e)
		return
	}
	renderCat(w, r, t)
}

func humanBytes(b int64, unit string) string {
	switch unit {
	case "b":
		return strconv.FormatInt(b, 10)
	case "kb":
		return strconv.FormatInt(b/1024, 10)
	case "mb":
		return strconv.FormatInt(b/(1<<20), 10)
	}
	switch {
	case b >= 1<<30:
		return strconv.FormatFloat(float64(b)/(1<<30), 'f', 1, 64) + "gb"
	case b >= 1<<20:
		return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + "mb"
	case b >= 1<<10:
		return strconv.FormatFloat(float64(b)/(1<<10), 'f', 1, 64) + "kb"
	}
	return strconv.FormatInt(b, 10) + "b"
}

func (n *Node) catIndices(r *http.Request, expr string) (catTable, *esError) {
	ixs, e := n.st.resolve(expr, false)
	if e != nil {
		return catTable{}, e
	}
	h := n.st.Health()
	unit := r.URL.Query().Get("bytes")
	t := catTable{
		cols:    []string{"health", "status", "index", "uuid", "pri", "rep", "docs.count", "docs.deleted", "store.size", "pri.store.size", "dataset.size"},
		numeric: map[string]bool{"pri": true, "rep": true, "docs.count": true, "docs.deleted": true, "store.size": true, "pri.store.size": true, "dataset.size": true},
	}
	health := h.Status
	for _, ix := range ixs {
		docs, size := ix.stats()
		copies := int64(max(h.NodesUp, 1))
		t.rows = append(t.rows, []string{health, "open", ix.name, ix.uuid, "1", strconv.Itoa(h.replicas()),
			strconv.Itoa(docs), "0", humanBytes(size*copies, unit), humanBytes(size, unit), humanBytes(size, unit)})
	}
	if f := r.URL.Query().Get("health"); f != "" {
		var kept [][]string
		for _, row := range t.rows {
			if row[0] == f {
				kept = append(kept, row)
			}
		}
		t.rows = kept
	}
	return t, nil
}

func (n *Node) catHealth() catTable {
	h := n.st.Health()
	b := healthBody(h, h.Indices)
	now := time.Now()
	return catTable{
		cols:    []string{"epoch", "timestamp", "cluster", "status", "node.total", "node.data", "shards", "pri", "relo", "init", "unassign", "unassign.pri", "pending_tasks", "max_task_wait_time", "active_shards_percent"},
		numeric: map[string]bool{"epoch": true, "node.total": true, "node.data": true, "shards": true, "pri": true, "relo": true, "init": true, "unassign": true, "unassign.pri": true, "pending_tasks": true},
		rows: [][]string{{strconv.FormatInt(now.Unix(), 10), now.UTC().Format("15:04:05"), ClusterName, h.Status,
			strconv.Itoa(h.NodesUp), strconv.Itoa(h.NodesUp), strconv.Itoa(b.ActiveShards), strconv.Itoa(b.ActivePrimaryShards),
			"0", "0", strconv.Itoa(b.UnassignedShards), "0", "0", "-", strconv.FormatFloat(b.ActiveShardsPercent, 'f', 1, 64) + "%"}},
	}
}

func (n *Node) catNodes() catTable {
	n.st.mu.RLock()
	var names []string
	for name, up := range n.st.nodes {
		if up {
			names = append(names, name)
		}
	}
	n.st.mu.RUnlock()
	sort.Strings(names)
	host, _, _ := net.SplitHostPort(n.Addr())
	t := catTable{cols: []string{"ip", "node.role", "master", "name"}}
	for i, name := range names {
		master := "-"
		if i == 0 {
			master = "*"
		}
		t.rows = append(t.rows, []string{host, "dim", master, name})
	}
	return t
}

func (n *Node) catCount(expr string) (catTable, *esError) {
	ixs, e := n.st.resolve(expr, false)
	if e != nil {
		return catTable{}, e
	}
	total := 0
	for _, ix := range ixs {
		c, _ := ix.stats()
		total += c
	}
	now := time.Now()
	return catTable{
		cols:    []string{"epoch", "timestamp", "count"},
		numeric: map[string]bool{"epoch": true, "count": true},
		rows:    [][]string{{strconv.FormatInt(now.Unix(), 10), now.UTC().Format("15:04:05"), strconv.Itoa(total)}},
	}, nil
}

// renderCat writes a _cat table as ES does: aligned text (header with ?v),
// or JSON objects of strings with ?format=json; ?h selects and ?s sorts
// columns.
func renderCat(w http.ResponseWriter, r *http.Request, t catTable) {
	q := r.URL.Query()
	cols := t.cols
	idx := map[string]int{}
	for i, c := range t.cols {
		idx[c] = i
	}
	if h := q.Get("h"); h != "" {
		cols = nil
		for _, c := range splitExpr(h) {
			if _, ok := idx[c]; ok {
				cols = append(cols, c)
			}
		}
	}
	rows := t.rows
	if s := q.Get("s"); s != "" {
		keys := splitExpr(s)
		sort.SliceStable(rows, func(a, b int) bool {
			for _, k := range keys {
				name, order, _ := strings.Cut(k, ":")
				i, ok := idx[name]
				if !ok {
					continue
				}
				x, y := rows[a][i], rows[b][i]
				if x == y {
					continue
				}
				less := x < y
				if t.numeric[name] {
					fx, _ := strconv.ParseFloat(strings.TrimRight(x, "kmgb%"), 64)
					fy, _ := strconv.ParseFloat(strings.TrimRight(y, "kmgb%"), 64)
					less = fx < fy
				}
				if order == "desc" {
					return !less
				}
				return less
			}
			return false
		})
	}
	if q.Get("format") == "json" {
		out := make([]map[string]string, 0, len(rows))
		for _, row := range rows {
			m := map[string]string{}
			for _, c := range cols {
				m[c] = row[idx[c]]
			}
			out = append(out, m)
		}
		writeJSON(w, r, http.StatusOK, out)
		return
	}
	_, header := q["v"]
	if v := q.Get("v"); v == "false" {
		header = false
	}
	width := make([]int, len(cols))
	if header {
		for i, c := range cols {
			width[i] = len(c)
		}
	}
	for _, row := range rows {
		for i, c := range cols {
			width[i] = max(width[i], len(row[idx[c]]))
		}
	}
	var b strings.Builder
	line := func(vals []string, alignRight bool) {
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(' ')
			}
			pad := strings.Repeat(" ", width[i]-len(v))
			last := i == len(vals)-1
			if alignRight && t.numeric[cols[i]] {
				b.WriteString(pad + v)
			} else if last {
				b.WriteString(v)
			} else {
				b.WriteString(v + pad)
			}
		}
		b.WriteByte('\n')
	}
	if header {
		line(cols, false)
	}
	for _, row := range rows {
		vals := make([]string, len(cols))
		for i, c := range cols {
			vals[i] = row[idx[c]]
		}
		line(vals, true)
	}
	writeText(w, r, http.StatusOK, b.String())
}
