package search

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	bsearch "github.com/blevesearch/bleve/v2/search"
)

// ---- documents ----

func paramInt64(r *http.Request, name string) (*int64, *esError) {
	q := r.URL.Query()
	if !q.Has(name) {
		return nil, nil
	}
	n, err := strconv.ParseInt(q.Get(name), 10, 64)
	if err != nil {
		return nil, illegalArgument("Failed to parse long parameter [%s] with value [%s]", name, q.Get(name))
	}
	return &n, nil
}

// checkConcreteIndex rejects index expressions where one index is required.
func checkConcreteIndex(idx string) *esError {
	if strings.ContainsAny(idx, "*,") || idx == "_all" {
		return illegalArgument("the index expression [%s] must resolve to a single concrete index", idx)
	}
	return nil
}

func (n *Node) handleIndexDoc(w http.ResponseWriter, r *http.Request, idx, id string, create bool) {
	q := r.URL.Query()
	if e := checkConcreteIndex(idx); e != nil {
		writeError(w, r, e)
		return
	}
	refresh, e := checkRefresh(q.Get("refresh"), q.Has("refresh"))
	if e != nil {
		writeError(w, r, e)
		return
	}
	if len(id) > maxIDBytes {
		writeError(w, r, badRequest("action_request_validation_exception", "Validation Failed: 1: id [%s] is too long, must be no longer than 512 bytes but was: %d;", id, len(id)))
		return
	}
	switch ot := q.Get("op_type"); ot {
	case "", "index":
	case "create":
		create = true
	default:
		writeError(w, r, illegalArgument("opType must be 'create' or 'index', found: [%s]", ot))
		return
	}
	body, e := n.readBody(r)
	if e != nil {
		writeError(w, r, e)
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, r, badRequest("action_request_validation_exception", "Validation Failed: 1: source is missing;"))
		return
	}
	op := writeOp{kind: opIndex, id: id, source: body}
	if create {
		op.kind = opCreate
	}
	if op.ifSeqNo, e = paramInt64(r, "if_seq_no"); e != nil {
		writeError(w, r, e)
		return
	}
	if op.ifPrimTerm, e = paramInt64(r, "if_primary_term"); e != nil {
		writeError(w, r, e)
		return
	}
	n.writeOne(w, r, idx, op, refresh)
}

// writeOne applies one write and answers like the ES document APIs.
func (n *Node) writeOne(w http.ResponseWriter, r *http.Request, idx string, op writeOp, refresh bool) {
	res := n.st.applyOps(idx, []writeOp{op}, refresh)[0]
	if res.err != nil {
		writeError(w, r, res.err)
		return
	}
	body := n.st.itemResponse(idx, res, n.st.Health())
	status := body.Status
	body.Status = 0
	writeJSON(w, r, status, docWriteJSON(body))
}

// docWriteJSON is the single-document write response (no status field).
type docWriteJSON itemBody

func (d docWriteJSON) MarshalJSON() ([]byte, error) {
	type out struct {
		Index       string       `json:"_index"`
		ID          string       `json:"_id"`
		Version     int64        `json:"_version"`
		Result      string       `json:"result"`
		Shards      *writeShards `json:"_shards,omitempty"`
		SeqNo       *int64       `json:"_seq_no,omitempty"`
		PrimaryTerm *int64       `json:"_primary_term,omitempty"`
	}
	return json.Marshal(out{d.Index, d.ID, d.Version, d.Result, d.Shards, d.SeqNo, d.PrimaryTerm})
}

func (n *Node) handleDeleteDoc(w http.ResponseWriter, r *http.Request, idx, id string) {
	q := r.URL.Query()
	refresh, e := checkRefresh(q.Get("refresh"), q.Has("refresh"))
	if e != nil {
		writeError(w, r, e)
		return
	}
	ix, ok := n.st.lookup(idx)
	if !ok {
		writeError(w, r, indexNotFound(idx))
		return
	}
	op := writeOp{kind: opDelete, id: id}
	if op.ifSeqNo, e = paramInt64(r, "if_seq_no"); e != nil {
		writeError(w, r, e)
		return
	}
	if op.ifPrimTerm, e = paramInt64(r, "if_primary_term"); e != nil {
		writeError(w, r, e)
		return
	}
	res, alive := ix.apply(n.st.an, []writeOp{op})
	if !alive {
		writeError(w, r, indexNotFound(idx))
		return
	}
	if refresh {
		if err := ix.flush(); err != nil {
			writeError(w, r, internalError("refresh", err))
			return
		}
	}
	if res[0].err != nil {
		writeError(w, r, res[0].err)
		return
	}
	body := n.st.itemResponse(idx, res[0], n.st.Health())
	writeJSON(w, r, body.Status, docWriteJSON(body))
}

func (n *Node) handleUpdate(w http.ResponseWriter, r *http.Request, idx, id string) {
	q := r.URL.Query()
	if e := checkConcreteIndex(idx); e != nil {
		writeError(w, r, e)
		return
	}
	refresh, e := checkRefresh(q.Get("refresh"), q.Has("refresh"))
	if e != nil {
		writeError(w, r, e)
		return
	}
	body, e := n.readBody(r)
	if e != nil {
		writeError(w, r, e)
		return
	}
	op := writeOp{kind: opUpdate, id: id}
	if e := parseUpdateBody(&op, body, 1); e != nil {
		writeError(w, r, e)
		return
	}
	if op.err != nil {
		writeError(w, r, op.err)
		return
	}
	if _, ok := n.st.lookup(idx); !ok && !op.docAsUpsert && op.upsert == nil {
		writeError(w, r, indexNotFound(idx))
		return
	}
	n.writeOne(w, r, idx, op, refresh)
}

type getDocJSON struct {
	Index       string          `json:"_index"`
	ID          string          `json:"_id"`
	Version     int64           `json:"_version,omitempty"`
	SeqNo       *int64          `json:"_seq_no,omitempty"`
	PrimaryTerm *int64          `json:"_primary_term,omitempty"`
	Found       bool            `json:"found"`
	Source      json.RawMessage `json:"_source,omitempty"`
}

func (n *Node) handleGetDoc(w http.ResponseWriter, r *http.Request, idx, id string, sourceOnly bool) {
	if e := checkConcreteIndex(idx); e != nil {
		writeError(w, r, e)
		return
	}
	ix, ok := n.st.lookup(idx)
	if !ok {
		writeError(w, r, indexNotFound(idx))
		return
	}
	ix.mu.RLock() // held while reading the source: a delete closes its file
	e := ix.doc(id)
	var src []byte
	var err error
	if e != nil {
		src, err = ix.sourceOf(e)
	}
	ix.mu.RUnlock()
	if err != nil {
		writeError(w, r, internalError("read source", err))
		return
	}
	sf := sourceFilter{}
	sr, perr := parseSearchRequest(nil, sourceParams(r))
	if perr != nil {
		writeError(w, r, perr)
		return
	}
	sf = sr.source
	if sourceOnly {
		if e == nil {
			writeError(w, r, newESError(http.StatusNotFound, "resource_not_found_exception", "Document not found [%s]/[%s]", idx, id))
			return
		}
		w.Header().Set("Content-Type", contentType(r))
		w.WriteHeader(http.StatusOK)
		if r.Method != mHead {
			_, _ = w.Write(sf.apply(src))
		}
		return
	}
	if e == nil {
		writeJSON(w, r, http.StatusNotFound, getDocJSON{Index: idx, ID: id})
		return
	}
	seq, term := e.seqNo, int64(1)
	out := getDocJSON{Index: idx, ID: id, Version: e.version, SeqNo: &seq, PrimaryTerm: &term, Found: true}
	if !sf.disabled {
		out.Source = sf.apply(src)
	}
	writeJSON(w, r, http.StatusOK, out)
}

// sourceParams keeps only the _source* parameters of a request.
func sourceParams(r *http.Request) map[string][]string {
	out := map[string][]string{}
	for k, v := range r.URL.Query() {
		if strings.HasPrefix(k, "_source") {
			out[k] = v
		}
	}
	return out
}

// ---- bulk, search, count, refresh ----

func (n *Node) handleBulk(w http.ResponseWriter, r *http.Request, idx string) {
	q := r.URL.Query()
	refresh, e := checkRefresh(q.Get("refresh"), q.Has("refresh"))
	if e != nil {
		writeError(w, r, e)
		return
	}
	if idx != "" {
		if e := checkConcreteIndex(idx); e != nil {
			writeError(w, r, e)
			return
		}
	}
	body, e := n.readBody(r)
	if e != nil {
		writeError(w, r, e)
		return
	}
	items, e := parseBulk(body, idx)
	if e != nil {
		writeError(w, r, e)
		return
	}
	writeJSON(w, r, http.StatusOK, n.st.execBulk(items, refresh))
}

func ignoreUnavailable(r *http.Request) bool {
	return r.URL.Query().Get("ignore_unavailable") == "true"
}

func (n *Node) handleSearch(w http.ResponseWriter, r *http.Request, expr string) {
	body, e := n.readBody(r)
	if e != nil {
		writeError(w, r, e)
		return
	}
	req, e := parseSearchRequest(body, r.URL.Query())
	if e != nil {
		writeError(w, r, e)
		return
	}
	ixs, e := n.st.resolve(expr, ignoreUnavailable(r))
	if e != nil {
		writeError(w, r, e)
		return
	}
	resp, e := n.st.execSearch(r.Context(), ixs, req)
	if e != nil {
		writeError(w, r, e)
		return
	}
	writeJSON(w, r, http.StatusOK, resp)
}

type countJSON struct {
	Count  uint64     `json:"count"`
	Shards shardsInfo `json:"_shards"`
}

func (n *Node) handleCount(w http.ResponseWriter, r *http.Request, expr string) {
	body, e := n.readBody(r)
	if e != nil {
		writeError(w, r, e)
		return
	}
	req, e := parseCountRequest(body, r.URL.Query())
	if e != nil {
		writeError(w, r, e)
		return
	}
	ixs, e := n.st.resolve(expr, ignoreUnavailable(r))
	if e != nil {
		writeError(w, r, e)
		return
	}
	c, e := n.st.execCount(r.Context(), ixs, req)
	if e != nil {
		writeError(w, r, e)
		return
	}
	writeJSON(w, r, http.StatusOK, countJSON{Count: c, Shards: allShards(len(ixs))})
}

func (n *Node) handleRefresh(w http.ResponseWriter, r *http.Request, expr string) {
	ixs, e := n.st.resolve(expr, ignoreUnavailable(r))
	if e != nil {
		writeError(w, r, e)
		return
	}
	for _, ix := range ixs {
		if err := ix.flush(); err != nil {
			writeError(w, r, internalError("refresh", err))
			return
		}
	}
	h := n.st.Health()
	total := len(ixs) * (h.replicas() + 1)
	ok := len(ixs) * max(h.NodesUp, 1)
	writeJSON(w, r, http.StatusOK, map[string]any{"_shards": writeShards{Total: total, Successful: min(ok, total)}})
}

type deleteByQueryJSON struct {
	Took             int64 `json:"took"`
	TimedOut         bool  `json:"timed_out"`
	Total            int   `json:"total"`
	Deleted          int   `json:"deleted"`
	Batches          int   `json:"batches"`
	VersionConflicts int   `json:"version_conflicts"`
	Noops            int   `json:"noops"`
	Failures         []any `json:"failures"`
}

func (n *Node) handleDeleteByQuery(w http.ResponseWriter, r *http.Request, expr string) {
	start := time.Now()
	body, e := n.readBody(r)
	if e != nil {
		writeError(w, r, e)
		return
	}
	if len(bytes.TrimSpace(body)) == 0 && !r.URL.Query().Has("q") {
		writeError(w, r, badRequest("action_request_validation_exception", "Validation Failed: 1: query is missing;"))
		return
	}
	req, e := parseCountRequest(body, r.URL.Query())
	if e != nil {
		writeError(w, r, e)
		return
	}
	ixs, e := n.st.resolve(expr, ignoreUnavailable(r))
	if e != nil {
		writeError(w, r, e)
		return
	}
	out := deleteByQueryJSON{Failures: []any{}}
	for _, ix := range ixs {
		if err := ix.flush(); err != nil {
			writeError(w, r, internalError("refresh", err))
			return
		}
		ids, e := ix.matchingIDs(r.Context(), n.st.an, req.query)
		if e != nil {
			writeError(w, r, e)
			return
		}
		out.Total += len(ids)
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), 1000)]
			ids = ids[len(chunk):]
			ops := make([]writeOp, len(chunk))
			for i, id := range chunk {
				ops[i] = writeOp{kind: opDelete, id: id}
			}
			res, alive := ix.apply(n.st.an, ops)
			if !alive {
				break
			}
			if err := ix.flush(); err != nil {
				writeError(w, r, internalError("refresh", err))
				return
			}
			out.Batches++
			for _, rr := range res {
				if rr.result == "deleted" {
					out.Deleted++
				}
			}
		}
	}
	out.Took = time.Since(start).Milliseconds()
	writeJSON(w, r, http.StatusOK, out)
}

// matchingIDs returns the ids of every document matching q.
func (ix *index) matchingIDs(ctx context.Context, an analyzers, q qnode) ([]string, *esError) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.deleted {
		return nil, nil
	}
	c := &compileCtx{ctx: ctx, ix: ix, m: ix.m, an: an, index: ix.name, now: time.Now()}
	bq, e := q.compile(c)
	if e != nil || isNone(bq) {
		return nil, e
	}
	req := bleve.NewSearchRequestOptions(bq, len(ix.docs), 0, false)
	req.Score = "none"
	req.Sort = bsearch.SortOrder{&bsearch.SortDocID{}}
	res, err := ix.bidx.SearchInContext(ctx, req)
	if err != nil {
		return nil, badRequest("search_phase_execution_exception", "all shards failed: %v", err)
	}
	ids := make([]string, 0, len(res.Hits))
	for _, h := range res.Hits {
		ids = append(ids, h.ID)
	}
	return ids, nil
}

// ---- index admin ----

func (n *Node) handleCreateIndex(w http.ResponseWriter, r *http.Request, idx string) {
	body, e := n.readBody(r)
	if e != nil {
		writeError(w, r, e)
		return
	}
	var mappings any
	var settings map[string]any
	if len(bytes.TrimSpace(body)) > 0 {
		m, e := decodeObject(body, "request body")
		if e != nil {
			writeError(w, r, e)
			return
		}
		for _, k := range sortedKeys(m) {
			switch k {
			case "mappings":
				mappings = m[k]
			case "settings":
				s, ok := m[k].(map[string]any)
				if !ok {
					writeError(w, r, parsingError("[settings] must be an object"))
					return
				}
				settings = s
			case "aliases":
			default:
				writeError(w, r, parsingError("unknown key [%s] for create index", k))
				return
			}
		}
	}
	if _, e := n.st.createIndex(idx, mappings, settings); e != nil {
		writeError(w, r, e)
		return
	}
	writeJSON(w, r, http.StatusOK, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": idx})
}

func (n *Node) handleDeleteIndex(w http.ResponseWriter, r *http.Request, expr string) {
	if e := n.st.deleteIndex(expr); e != nil {
		writeError(w, r, e)
		return
	}
	writeJSON(w, r, http.StatusOK, map[string]any{"acknowledged": true})
}

func (ix *index) settingsJSON(h Health) map[string]any {
	idx := map[string]any{
		"number_of_shards":   "1",
		"number_of_replicas": strconv.Itoa(h.replicas()),
		"uuid":               ix.uuid,
		"provided_name":      ix.name,
		"creation_date":      strconv.FormatInt(ix.created.UnixMilli(), 10),
		"version":            map[string]any{"created": "8512000"},
	}
	return map[string]any{"index": idx}
}

func (n *Node) handleGetIndex(w http.ResponseWriter, r *http.Request, expr string) {
	ixs, e := n.st.resolve(expr, ignoreUnavailable(r))
	if e != nil {
		if r.Method == mHead {
			writeJSON(w, r, e.status, nil)
			return
		}
		writeError(w, r, e)
		return
	}
	h := n.st.Health()
	out := map[string]any{}
	for _, ix := range ixs {
		ix.mu.RLock()
		out[ix.name] = map[string]any{
			"aliases":  map[string]any{},
			"mappings": map[string]any{"properties": ix.m.properties()},
			"settings": ix.settingsJSON(h),
		}
		ix.mu.RUnlock()
	}
	writeJSON(w, r, http.StatusOK, out)
}

func (n *Node) handleGetMapping(w http.ResponseWriter, r *http.Request, expr string) {
	ixs, e := n.st.resolve(expr, ignoreUnavailable(r))
	if e != nil {
		writeError(w, r, e)
		return
	}
	out := map[string]any{}
	for _, ix := range ixs {
		ix.mu.RLock()
		out[ix.name] = map[string]any{"mappings": map[string]any{"properties": ix.m.properties()}}
		ix.mu.RUnlock()
	}
	writeJSON(w, r, http.StatusOK, out)
}

func (n *Node) handlePutMapping(w http.ResponseWriter, r *http.Request, expr string) {
	body, e := n.readBody(r)
	if e != nil {
		writeError(w, r, e)
		return
	}
	m, e := decodeObject(body, "request body")
	if e != nil {
		writeError(w, r, e)
		return
	}
	ixs, e := n.st.resolve(expr, ignoreUnavailable(r))
	if e != nil {
		writeError(w, r, e)
		return
	}
	for _, ix := range ixs {
		ix.mu.Lock()
		// Existing fields keep their type, as in ES (no type changes).
		probe := newMapping()
		e := probe.applyMappings(m)
		if e == nil {
			for k, v := range probe.fields {
				if old, ok := ix.m.fields[k]; ok && old.typ != v.typ {
					e = illegalArgument("mapper [%s] cannot be changed from type [%s] to [%s]", k, old.esType, v.esType)
					break
				}
			}
		}
		if e == nil {
			ix.m.commit(probe.fields)
			if _, ok := m["dynamic"]; ok {
				ix.m.dynamic = probe.dynamic
			}
		}
		ix.mu.Unlock()
		if e != nil {
			writeError(w, r, e)
			return
		}
	}
	writeJSON(w, r, http.StatusOK, map[string]any{"acknowledged": true})
}

func (n *Node) handleGetSettings(w http.ResponseWriter, r *http.Request, expr string) {
	ixs, e := n.st.resolve(expr, ignoreUnavailable(r))
	if e != nil {
		writeError(w, r, e)
		return
	}
	h := n.st.Health()
	out := map[string]any{}
	for _, ix := range ixs {
		out[ix.name] = map[string]any{"settings": ix.settingsJSON(h)}
	}
	writeJSON(w, r, http.StatusOK, out)
}

func (n *Node) handlePutSettings(w http.ResponseWriter, r *http.Request, expr string) {
	body, e := n.readBody(r)
	if e != nil {
		writeError(w, r, e)
		return
	}
	if _, e := decodeObject(body, "request body"); e != nil {
		writeError(w, r, e)
		return
	}
	if _, e := n.st.resolve(expr, ignoreUnavailable(r)); e != nil {
		writeError(w, r, e)
		return
	}
	writeJSON(w, r, http.StatusOK, map[string]any{"acknowledged": true})
}
