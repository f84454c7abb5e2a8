package search

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// opKind is a document write operation.
type opKind uint8

const (
	opIndex opKind = iota
	opCreate
	opDelete
	opUpdate
)

func (k opKind) String() string {
	switch k {
	case opCreate:
		return "create"
	case opDelete:
		return "delete"
	case opUpdate:
		return "update"
	}
	return "index"
}

// writeOp is one document write, from the document API or a bulk line.
type writeOp struct {
	kind opKind
	id   string
	// source is the document (index/create) or the partial doc (update).
	source []byte
	// upsert is the update's upsert document, if any.
	upsert      []byte
	docAsUpsert bool
	ifSeqNo     *int64
	ifPrimTerm  *int64
	// err, when set, fails the op without touching the index (bulk
	// validation errors reported per item).
	err *esError
}

// writeResult is the outcome of one writeOp.
type writeResult struct {
	id      string
	version int64
	seqNo   int64
	result  string
	status  int
	err     *esError
}

// apply executes ops against the index in order. Documents are visible to
// GET at once and to search after the next refresh (flush), as in ES.
// It reports false if the index was deleted meanwhile.
func (ix *index) apply(an analyzers, ops []writeOp) ([]writeResult, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	res := make([]writeResult, len(ops))
	if ix.deleted {
		return res, false
	}
	for i, op := range ops {
		r := &res[i]
		r.id = op.id
		if op.err != nil {
			r.err = op.err
			continue
		}
		if op.kind != opDelete && op.kind != opUpdate && r.id == "" {
			r.id = newDocID()
		}
		cur := ix.doc(r.id)
		if e := ix.checkConditions(op, r.id, cur); e != nil {
			r.err = e
			continue
		}
		switch op.kind {
		case opDelete:
			ix.seqNo++
			r.seqNo = ix.seqNo
			if cur == nil {
				r.version, r.result, r.status = 1, "not_found", http.StatusNotFound
				continue
			}
			ix.pending.Delete(r.id)
			ix.pendingOps++
			ix.bytes -= int64(cur.n)
			ix.dropSource(*cur)
			delete(ix.docs, r.id)
			r.version, r.result, r.status = cur.version+1, "deleted", http.StatusOK
			continue
		case opCreate:
			if cur != nil {
				r.err = ix.conflict(r.id, "document already exists (current version [%d])", cur.version)
				continue
			}
		}
		src := op.source
		if op.kind == opUpdate {
			var noop bool
			var e *esError
			src, noop, e = ix.updatedSource(op, r.id, cur)
			if e != nil {
				r.err = e
				continue
			}
			if noop {
				r.version, r.seqNo, r.result, r.status = cur.version, cur.seqNo, "noop", http.StatusOK
				continue
			}
		}
		obj, perr := decodeObject(src, "document")
		if perr != nil {
			r.err = docParseError("failed to parse: %s", perr.reason)
			continue
		}
		doc, added, derr := buildDocument(ix.m, an, r.id, obj)
		if derr != nil {
			r.err = derr
			continue
		}
		e := docEntry{version: 1}
		if err := ix.storeSource(&e, src); err != nil {
			r.err = internalError("store source", err)
			continue
		}
		if err := ix.pending.IndexAdvanced(doc); err != nil {
			r.err = internalError("index document", err)
			continue
		}
		ix.m.commit(added)
		ix.pendingOps++
		ix.seqNo++
		e.seqNo = ix.seqNo
		r.result, r.status = "created", http.StatusCreated
		if cur != nil {
			e.version = cur.version + 1
			r.result, r.status = "updated", http.StatusOK
			ix.bytes -= int64(cur.n)
			ix.dropSource(*cur)
		}
		ix.docs[r.id] = e
		ix.bytes += int64(e.n)
		r.version, r.seqNo = e.version, e.seqNo
	}
	return res, true
}

// pendingCount is the number of writes not yet visible to search.
func (ix *index) pendingCount() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.pendingOps
}

// flush makes every write applied before the call searchable (ES refresh).
// Flushes are serialised; searches keep running while bleve indexes.
func (ix *index) flush() error {
	ix.flushMu.Lock()
	defer ix.flushMu.Unlock()
	ix.mu.Lock()
	if ix.deleted || ix.pendingOps == 0 {
		ix.mu.Unlock()
		return nil
	}
	b := ix.pending
	ix.pending = ix.bidx.NewBatch()
	ix.pendingOps = 0
	ix.mu.Unlock()
	if err := ix.bidx.Batch(b); err != nil {
		return fmt.Errorf("refresh index %s: %w", ix.name, err)
	}
	return nil
}

func (ix *index) conflict(id, format string, args ...any) *esError {
	e := newESError(http.StatusConflict, "version_conflict_engine_exception", "["+id+"]: version conflict, "+format, args...)
	e.extra = map[string]any{"index_uuid": ix.uuid, "shard": "0", "index": ix.name}
	return e
}

func (ix *index) checkConditions(op writeOp, id string, cur *docEntry) *esError {
	if op.ifSeqNo == nil && op.ifPrimTerm == nil {
		return nil
	}
	wantSeq, wantTerm := int64(-2), int64(1)
	if op.ifSeqNo != nil {
		wantSeq = *op.ifSeqNo
	}
	if op.ifPrimTerm != nil {
		wantTerm = *op.ifPrimTerm
	}
	if cur == nil {
		return ix.conflict(id, "required seqNo [%d], primary term [%d] but no document was found", wantSeq, wantTerm)
	}
	if cur.seqNo != wantSeq || wantTerm != 1 {
		return ix.conflict(id, "required seqNo [%d], primary term [%d]. current document has seqNo [%d] and primary term [1]", wantSeq, wantTerm, cur.seqNo)
	}
	return nil
}

// updatedSource computes the new source of a partial update.
func (ix *index) updatedSource(op writeOp, id string, cur *docEntry) ([]byte, bool, *esError) {
	if cur == nil {
		switch {
		case op.docAsUpsert:
			return op.source, false, nil
		case op.upsert != nil:
			return op.upsert, false, nil
		}
		e := newESError(http.StatusNotFound, "document_missing_exception", "[%s]: document missing", id)
		e.extra = map[string]any{"index_uuid": ix.uuid, "shard": "0", "index": ix.name}
		return nil, false, e
	}
	patch, perr := decodeObject(op.source, "doc")
	if perr != nil {
		return nil, false, perr
	}
	curSrc, err := ix.sourceOf(cur)
	if err != nil {
		return nil, false, internalError("read source", err)
	}
	old, perr := decodeObject(curSrc, "document")
	if perr != nil {
		return nil, false, perr
	}
	orig, _ := decodeObject(curSrc, "document")
	merged := deepMerge(old, patch)
	if jsonEqual(orig, merged) {
		return nil, true, nil
	}
	out, err := json.Marshal(merged)
	if err != nil {
		return nil, false, internalError("encode merged source", err)
	}
	return out, false, nil
}
