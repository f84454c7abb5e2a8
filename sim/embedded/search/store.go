package search

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
)

// ClusterName is the cluster_name every node reports.
const ClusterName = "paysim"

// Store holds every index of the simulated cluster. Indices are fully
// replicated to every node, so the data stays searchable while at least one
// node is up. It also tracks which nodes are up for _cluster/health.
// A Store is safe for concurrent use.
type Store struct {
	an   analyzers
	uuid string
	dir  string // where indices keep their segments; "" keeps them in memory

	mu        sync.RWMutex
	indices   map[string]*index
	templates map[string]*indexTemplate
	nodes     map[string]bool // node name -> up
	// changed is closed (and replaced) whenever node state changes.
	changed chan struct{}
	closed  bool

	stop    chan struct{}
	stopped chan struct{}
}

// RefreshInterval is how often pending writes become searchable without an
// explicit refresh (ES index.refresh_interval default).
const RefreshInterval = time.Second

// maxPendingOps forces a refresh when this many writes are buffered.
const maxPendingOps = 10000

// trickleOps and trickleEvery spread a busy index's refresh work: every
// trickleEvery the refresher also refreshes an index holding at least
// trickleOps pending writes. One refresh per RefreshInterval at 1,250 log
// lines/s took about 70 ms of both cores at once (bleve analyses a batch
// on four workers), which stalled every payment each second.
const (
	trickleOps   = 200
	trickleEvery = RefreshInterval / 8
)

// NewStore returns an empty in-memory store. Its contents live until Close.
// A background goroutine refreshes indices every RefreshInterval.
func NewStore() *Store { return NewStoreIn("") }

// NewStoreIn is NewStore with each index's segments persisted, and merged,
// under dir (as Elasticsearch's data path): a long run's log index then
// lives in files, not in the heap. "" keeps segments in memory, unmerged.
func NewStoreIn(dir string) *Store { return newStore(dir, true) }

// newStore builds a store; without periodic, nothing refreshes in the
// background (tests drive trickle and Refresh themselves).
func newStore(dir string, periodic bool) *Store {
	s := &Store{
		dir:       dir,
		an:        newAnalyzers(),
		uuid:      newUUID(),
		indices:   map[string]*index{},
		templates: map[string]*indexTemplate{},
		nodes:     map[string]bool{},
		changed:   make(chan struct{}),
		stop:      make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	if periodic {
		go s.refresher()
	} else {
		close(s.stopped)
	}
	return s
}

func (s *Store) refresher() {
	defer close(s.stopped)
	tick := time.NewTicker(trickleEvery)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case now := <-tick.C:
			if now.Sub(last) >= RefreshInterval-trickleEvery/2 {
				last = now
				_ = s.Refresh("_all")
				continue
			}
			_ = s.trickle()
		}
	}
}

// trickle refreshes the indices holding at least trickleOps pending writes.
func (s *Store) trickle() error {
	ixs, _ := s.resolve("_all", true)
	var errs []error
	for _, ix := range ixs {
		if ix.pendingCount() >= trickleOps {
			if err := ix.flush(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Refresh makes every acknowledged write to the indices matched by pattern
// searchable (POST /{pattern}/_refresh).
func (s *Store) Refresh(pattern string) error {
	ixs, _ := s.resolve(pattern, true)
	var errs []error
	for _, ix := range ixs {
		if err := ix.flush(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close stops the refresher and releases every index. Nodes serving the
// store should be closed first.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for name, ix := range s.indices {
		if err := ix.close(); err != nil {
			errs = append(errs, fmt.Errorf("close index %s: %w", name, err))
		}
	}
	s.indices = map[string]*index{}
	return errors.Join(errs...)
}

// docEntry is the stored state of one document, held by value in the
// index's map (a long run holds hundreds of thousands: 32 bytes each).
type docEntry struct {
	off     int64 // where the source is in the source file, or its slot in mem
	version int64
	seqNo   int64
	n       int32 // the source's length
}

// sourceFile keeps an index's document sources on disk, so a long run's
// logs sit in the page cache rather than the heap (190 MB of sources after
// eight minutes at 1,000 payments/s). Updates and deletes leave the old
// bytes behind: logs are written once. Appended under the index's write
// lock; ReadAt is safe beside appends.
type sourceFile struct {
	f    *os.File
	size int64
}

// storeSource records src as e's source.
func (ix *index) storeSource(e *docEntry, src []byte) error {
	e.n = int32(len(src))
	if ix.srcs == nil {
		e.off = int64(len(ix.mem))
		ix.mem = append(ix.mem, bytes.Clone(src))
		return nil
	}
	if _, err := ix.srcs.f.WriteAt(src, ix.srcs.size); err != nil {
		return fmt.Errorf("store source: %w", err)
	}
	e.off = ix.srcs.size
	ix.srcs.size += int64(len(src))
	return nil
}

// dropSource forgets a replaced or deleted document's source when it is in
// memory (the source file keeps old bytes: logs are written once).
func (ix *index) dropSource(e docEntry) {
	if ix.srcs == nil {
		ix.mem[e.off] = nil
	}
}

// doc returns a copy of id's entry; nil if there is none.
func (ix *index) doc(id string) *docEntry {
	if e, ok := ix.docs[id]; ok {
		return &e
	}
	return nil
}

// sourceOf returns e's source.
func (ix *index) sourceOf(e *docEntry) ([]byte, error) {
	if ix.srcs == nil {
		return ix.mem[e.off], nil
	}
	b := make([]byte, e.n)
	if _, err := ix.srcs.f.ReadAt(b, e.off); err != nil {
		return nil, fmt.Errorf("read source of index %s: %w", ix.name, err)
	}
	return b, nil
}

// index is one ES index: a bleve index for search, the sources for get, and
// the mapping. mu guards everything below it; searches hold it for reading.
type index struct {
	name     string
	uuid     string
	path     string // segment files; "" in memory
	created  time.Time
	settings map[string]any

	// flushMu serialises refreshes (and close) of the bleve index.
	flushMu sync.Mutex

	mu   sync.RWMutex
	bidx bleve.Index
	// pending holds writes not yet searchable (until the next refresh).
	pending    *bleve.Batch
	pendingOps int
	docs       map[string]docEntry
	srcs       *sourceFile // nil: sources in memory, in mem
	mem        [][]byte
	m          *mapping
	seqNo      int64
	bytes      int64
	deleted    bool
}

// newIndex creates an index over a scorch bleve index (several times faster
// than bleve.NewMemOnly's upsidedown/gtreap store) under dir, or in memory
// when dir is "".
func newIndex(name, dir string) (*index, error) {
	uuid := newUUID()
	path := ""
	if dir != "" {
		path = filepath.Join(dir, uuid)
	}
	b, err := bleve.NewUsing(path, bleve.NewIndexMapping(), scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("create bleve index: %w", err)
	}
	var srcs *sourceFile
	if path != "" {
		f, err := os.OpenFile(filepath.Join(path, "sources"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			_ = b.Close()
			return nil, fmt.Errorf("create source file: %w", err)
		}
		srcs = &sourceFile{f: f}
	}
	return &index{
		srcs:    srcs,
		name:    name,
		uuid:    uuid,
		path:    path,
		created: time.Now(),
		bidx:    b,
		pending: b.NewBatch(),
		docs:    map[string]docEntry{},
		m:       newMapping(),
		seqNo:   -1,
	}, nil
}

func (ix *index) close() error {
	ix.flushMu.Lock()
	defer ix.flushMu.Unlock()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.deleted {
		return nil
	}
	ix.deleted = true
	err := ix.bidx.Close()
	if ix.srcs != nil {
		err = errors.Join(err, ix.srcs.f.Close())
	}
	if ix.path != "" {
		err = errors.Join(err, os.RemoveAll(ix.path))
	}
	return err
}

// stats returns the document count and source bytes.
func (ix *index) stats() (int, int64) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.docs), ix.bytes
}

// newUUID returns a 22-character random base64url id, like ES index uuids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newDocID returns a 20-character id like ES auto-generated ids.
func newDocID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validateIndexName applies ES index name rules.
func validateIndexName(name string) *esError {
	bad := func(why string) *esError {
		e := badRequest("invalid_index_name_exception", "Invalid index name [%s], %s", name, why)
		e.extra = map[string]any{"index_uuid": "_na_", "index": name}
		return e
	}
	switch {
	case name == "":
		return bad("must not be empty")
	case name == "." || name == "..":
		return bad("must not be '.' or '..'")
	case strings.ToLower(name) != name:
		return bad("must be lowercase")
	case strings.ContainsAny(name[:1], "_-+"):
		return bad("must not start with '_', '-', or '+'")
	case strings.ContainsAny(name, "\\/*?\"<>| ,#:"):
		return bad(`must not contain the following characters ['\','/','*','?','"','<','>','|',' ',',','#',':']`)
	case len(name) > 255:
		return bad("index name is too long, (" + fmt.Sprint(len(name)) + " > 255)")
	}
	return nil
}

// lookup returns an existing index.
func (s *Store) lookup(name string) (*index, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ix, ok := s.indices[name]
	return ix, ok
}

// createIndex creates an index; mappings (an ES "mappings" object) and
// settings may be nil. It fails if the index exists.
func (s *Store) createIndex(name string, mappings any, settings map[string]any) (*index, *esError) {
	if err := validateIndexName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, newESError(http.StatusServiceUnavailable, "node_closed_exception", "store is closed")
	}
	if ix, ok := s.indices[name]; ok {
		e := badRequest("resource_already_exists_exception", "index [%s/%s] already exists", name, ix.uuid)
		e.extra = map[string]any{"index_uuid": ix.uuid, "index": name}
		return nil, e
	}
	return s.createLocked(name, mappings, settings)
}

func (s *Store) createLocked(name string, mappings any, settings map[string]any) (*index, *esError) {
	ix, err := newIndex(name, s.dir)
	if err != nil {
		return nil, internalError("create index", err)
	}
	for _, t := range s.matchingTemplates(name) {
		if t.mappings != nil {
			if e := ix.m.applyMappings(t.mappings); e != nil {
				_ = ix.close()
				return nil, e
			}
		}
	}
	if mappings != nil {
		if e := ix.m.applyMappings(mappings); e != nil {
			_ = ix.close()
			return nil, e
		}
	}
	ix.settings = settings
	s.indices[name] = ix
	return ix, nil
}

// indexForWrite returns the index, creating it (ES auto-create) if missing.
func (s *Store) indexForWrite(name string) (*index, *esError) {
	if ix, ok := s.lookup(name); ok {
		return ix, nil
	}
	if err := validateIndexName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, newESError(http.StatusServiceUnavailable, "node_closed_exception", "store is closed")
	}
	if ix, ok := s.indices[name]; ok {
		return ix, nil
	}
	return s.createLocked(name, nil, nil)
}

// deleteIndex removes the named indices (concrete names, comma separated).
func (s *Store) deleteIndex(expr string) *esError {
	names := splitExpr(expr)
	for _, n := range names {
		if n == "_all" || strings.Contains(n, "*") {
			return illegalArgument("Wildcard expressions or all indices are not allowed")
		}
	}
	s.mu.Lock()
	var victims []*index
	for _, n := range names {
		ix, ok := s.indices[n]
		if !ok {
			s.mu.Unlock()
			return indexNotFound(n)
		}
		victims = append(victims, ix)
	}
	for _, ix := range victims {
		delete(s.indices, ix.name)
	}
	s.mu.Unlock()
	for _, ix := range victims {
		_ = ix.close()
	}
	return nil
}

func splitExpr(expr string) []string {
	var out []string
	for _, p := range strings.Split(expr, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// resolve expands an index expression (comma list, wildcards, _all, -excl)
// into existing indices, sorted by name. A missing concrete index is an
// index_not_found_exception unless ignoreUnavailable is set; a wildcard that
// matches nothing resolves to nothing.
func (s *Store) resolve(expr string, ignoreUnavailable bool) ([]*index, *esError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	set := map[string]*index{}
	parts := splitExpr(expr)
	if len(parts) == 0 {
		parts = []string{"_all"}
	}
	for i, p := range parts {
		switch {
		case p == "_all" || p == "*":
			for n, ix := range s.indices {
				set[n] = ix
			}
		case i > 0 && strings.HasPrefix(p, "-"):
			pat := p[1:]
			for n := range set {
				if wildcardMatch(pat, n) {
					delete(set, n)
				}
			}
		case strings.Contains(p, "*"):
			for n, ix := range s.indices {
				if wildcardMatch(p, n) {
					set[n] = ix
				}
			}
		default:
			ix, ok := s.indices[p]
			if !ok {
				if ignoreUnavailable {
					continue
				}
				return nil, indexNotFound(p)
			}
			set[p] = ix
		}
	}
	out := make([]*index, 0, len(set))
	for _, ix := range set {
		out = append(out, ix)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// wildcardMatch matches s against a pattern where '*' matches any run of
// characters (ES simple wildcard).
func wildcardMatch(pattern, s string) bool {
	for {
		i := strings.IndexByte(pattern, '*')
		if i < 0 {
			return pattern == s
		}
		if !strings.HasPrefix(s, pattern[:i]) {
			return false
		}
		s = s[i:]
		pattern = pattern[i+1:]
		if pattern == "" {
			return true
		}
		// try every position for the rest
		for k := 0; k <= len(s); k++ {
			if wildcardMatch(pattern, s[k:]) {
				return true
			}
		}
		return false
	}
}

// ---- node registry and health ----

func (s *Store) registerNode(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.nodes[name]; !ok {
		s.nodes[name] = false
		s.notifyLocked()
	}
}

func (s *Store) setNodeUp(name string, up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes[name] = up
	s.notifyLocked()
}

func (s *Store) unregisterNode(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.nodes, name)
	s.notifyLocked()
}

func (s *Store) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Health is the Go-side view of _cluster/health.
type Health struct {
	// Status is "green" (all nodes up), "yellow" (some down) or "red" (none up).
	Status string
	// NodesUp and NodesTotal count the registered nodes.
	NodesUp, NodesTotal int
	// Indices is the number of indices.
	Indices int
}

// Health reports the cluster status from the nodes that are up.
func (s *Store) Health() Health {
	h, _ := s.healthAndWait()
	return h
}

func (s *Store) healthAndWait() (Health, <-chan struct{}) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := Health{NodesTotal: len(s.nodes), Indices: len(s.indices)}
	for _, up := range s.nodes {
		if up {
			h.NodesUp++
		}
	}
	switch {
	case h.NodesUp == 0:
		h.Status = "red"
	case h.NodesUp < h.NodesTotal:
		h.Status = "yellow"
	default:
		h.Status = "green"
	}
	return h, s.changed
}

// replicas is the number of replicas per index: one copy per node.
func (h Health) replicas() int {
	if h.NodesTotal <= 1 {
		return 0
	}
	return h.NodesTotal - 1
}

// ---- Go-side helpers for checkers and tests ----

// Indices returns the names of all indices, sorted.
func (s *Store) Indices() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.indices))
	for n := range s.indices {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Count returns the number of documents in the indices matched by pattern
// (an index expression such as "paysim-logs-*"); missing indices count 0.
func (s *Store) Count(pattern string) int {
	ixs, _ := s.resolve(pattern, true)
	n := 0
	for _, ix := range ixs {
		c, _ := ix.stats()
		n += c
	}
	return n
}

// CountQuery refreshes, then counts the documents matching an ES query (the JSON of the
// "query" object, e.g. {"term":{"payment_id.keyword":"p-1"}}).
func (s *Store) CountQuery(pattern string, queryJSON []byte) (int, error) {
	raw, perr := decodeJSON(queryJSON)
	if perr != nil {
		return 0, fmt.Errorf("count query: %w", perr)
	}
	q, perr := parseQuery(raw)
	if perr != nil {
		return 0, fmt.Errorf("count query: %w", perr)
	}
	ixs, perr := s.resolve(pattern, true)
	if perr != nil {
		return 0, fmt.Errorf("count query: %w", perr)
	}
	if err := s.Refresh(pattern); err != nil {
		return 0, fmt.Errorf("count query: %w", err)
	}
	r := newSearchReq()
	r.query, r.size = q, 0
	total, perr := s.execCount(context.Background(), ixs, r)
	if perr != nil {
		return 0, fmt.Errorf("count query: %w", perr)
	}
	return int(total), nil
}

// Get returns a document's source; false if there is none (or it cannot be
// read back).
func (s *Store) Get(indexName, id string) (json.RawMessage, bool) {
	ix, ok := s.lookup(indexName)
	if !ok {
		return nil, false
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	e := ix.doc(id)
	if e == nil {
		return nil, false
	}
	src, err := ix.sourceOf(e)
	if err != nil {
		return nil, false
	}
	return json.RawMessage(src), true
}

// Scan calls fn for every document of the indices matched by pattern, in
// index then id order, until fn returns false. fn must not write to the store.
func (s *Store) Scan(pattern string, fn func(index, id string, source json.RawMessage) bool) {
	ixs, _ := s.resolve(pattern, true)
	for _, ix := range ixs {
		ix.mu.RLock()
		ids := make([]string, 0, len(ix.docs))
		for id := range ix.docs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		srcs := make([][]byte, len(ids))
		for i, id := range ids {
			srcs[i], _ = ix.sourceOf(ix.doc(id)) // unreadable: an empty source
		}
		ix.mu.RUnlock()
		for i, id := range ids {
			if !fn(ix.name, id, json.RawMessage(srcs[i])) {
				return
			}
		}
	}
}
