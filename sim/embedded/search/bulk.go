package search

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// maxIDBytes is ES's limit on document id length.
const maxIDBytes = 512

// bulkItem is one parsed bulk action.
type bulkItem struct {
	index string
	op    writeOp
}

// writeShards is the _shards object of write responses.
type writeShards struct {
	Total      int `json:"total"`
	Successful int `json:"successful"`
	Failed     int `json:"failed"`
}

// itemBody is a bulk item result (also the single-document write response).
type itemBody struct {
	Index       string       `json:"_index"`
	ID          string       `json:"_id"`
	Version     int64        `json:"_version,omitempty"`
	Result      string       `json:"result,omitempty"`
	Shards      *writeShards `json:"_shards,omitempty"`
	SeqNo       *int64       `json:"_seq_no,omitempty"`
	PrimaryTerm *int64       `json:"_primary_term,omitempty"`
	Status      int          `json:"status"`
	Error       *errObject   `json:"error,omitempty"`
}

type bulkResponse struct {
	Took   int64                 `json:"took"`
	Errors bool                  `json:"errors"`
	Items  []map[string]itemBody `json:"items"`
}

// bulkMetaKeys are the accepted action/metadata parameters.
var bulkMetaKeys = map[string]bool{
	"_index": true, "_id": true, "routing": true, "version": true, "version_type": true,
	"if_seq_no": true, "if_primary_term": true, "pipeline": true, "require_alias": true,
	"retry_on_conflict": true, "_source": true, "dynamic_templates": true,
	"require_data_stream": true, "list_executed_pipelines": true,
}

// nextLine returns the line starting at pos (without "\n" or "\r") and the
// position after it; ok is false at the end of the body.
func nextLine(body []byte, pos int) (line []byte, next int, ok bool) {
	if pos >= len(body) {
		return nil, pos, false
	}
	end := bytes.IndexByte(body[pos:], '\n')
	if end < 0 {
		line, next = body[pos:], len(body)
	} else {
		line, next = body[pos:pos+end], pos+end+1
	}
	return bytes.TrimRight(line, "\r"), next, true
}

// parseBulk parses an NDJSON bulk body. Structural problems (bad action
// line, unknown action, missing source line) fail the whole request, as in
// ES; a malformed document source fails only its item.
func parseBulk(body []byte, defaultIndex string) ([]bulkItem, *esError) {
	var items []bulkItem
	pos, lineNo := 0, 0
	for {
		line, next, ok := nextLine(body, pos)
		if !ok {
			break
		}
		pos = next
		lineNo++
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		kind, meta, err := parseActionLine(line, lineNo)
		if err != nil {
			return nil, err
		}
		it := bulkItem{index: defaultIndex, op: writeOp{kind: kind}}
		if err := applyMeta(&it, meta, lineNo); err != nil {
			return nil, err
		}
		if it.index == "" {
			return nil, badRequest("action_request_validation_exception", "Validation Failed: 1: index is missing;")
		}
		if kind == opDelete {
			items = append(items, it)
			continue
		}
		src, after, ok := nextLine(body, pos)
		if !ok || len(bytes.TrimSpace(src)) == 0 {
			return nil, badRequest("action_request_validation_exception",
				"Validation Failed: 1: source is missing for [%s] action at line [%d];", kind, lineNo)
		}
		pos = after
		lineNo++
		if kind == opUpdate {
			if err := parseUpdateBody(&it.op, src, lineNo); err != nil {
				return nil, err
			}
		} else {
			it.op.source = src
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return nil, badRequest("action_request_validation_exception", "Validation Failed: 1: no requests added;")
	}
	return items, nil
}

func parseActionLine(line []byte, lineNo int) (opKind, map[string]any, *esError) {
	v, err := decodeJSON(line)
	if err != nil {
		err.reason = fmt.Sprintf("Malformed action/metadata line [%d]: %s", lineNo, err.reason)
		return 0, nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return 0, nil, illegalArgument("Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT but found [%s]", lineNo, jsonKind(v))
	}
	if len(obj) != 1 {
		return 0, nil, illegalArgument("Malformed action/metadata line [%d], expected a single action but found %d fields", lineNo, len(obj))
	}
	for name, mv := range obj {
		var kind opKind
		switch name {
		case "index":
			kind = opIndex
		case "create":
			kind = opCreate
		case "delete":
			kind = opDelete
		case "update":
			kind = opUpdate
		default:
			return 0, nil, illegalArgument("Malformed action/metadata line [%d], expected one of [create, delete, index, update] but found [%s]", lineNo, name)
		}
		meta, ok := mv.(map[string]any)
		if !ok {
			return 0, nil, illegalArgument("Malformed action/metadata line [%d], expected START_OBJECT but found [%s]", lineNo, jsonKind(mv))
		}
		return kind, meta, nil
	}
	return 0, nil, nil
}

func applyMeta(it *bulkItem, meta map[string]any, lineNo int) *esError {
	for _, k := range sortedKeys(meta) {
		if !bulkMetaKeys[k] {
			return illegalArgument("Action/metadata line [%d] contains an unknown parameter [%s]", lineNo, k)
		}
		v := meta[k]
		switch k {
		case "_index":
			s, ok := v.(string)
			if !ok {
				return illegalArgument("Action/metadata line [%d]: [_index] must be a string", lineNo)
			}
			it.index = s
		case "_id":
			if !isScalar(v) {
				return illegalArgument("Action/metadata line [%d]: [_id] must be a string", lineNo)
			}
			id := stringify(v)
			if id == "" {
				return badRequest("action_request_validation_exception", "Validation Failed: 1: if _id is specified it must not be empty;")
			}
			if len(id) > maxIDBytes {
				return badRequest("action_request_validation_exception", "Validation Failed: 1: id [%s] is too long, must be no longer than 512 bytes but was: %d;", id, len(id))
			}
			it.op.id = id
		case "if_seq_no", "if_primary_term":
			f, ok := toFloat(v)
			if !ok {
				return illegalArgument("Action/metadata line [%d]: [%s] must be a number", lineNo, k)
			}
			n := int64(f)
			if k == "if_seq_no" {
				it.op.ifSeqNo = &n
			} else {
				it.op.ifPrimTerm = &n
			}
		}
	}
	if (it.op.kind == opDelete || it.op.kind == opUpdate) && it.op.id == "" {
		return badRequest("action_request_validation_exception", "Validation Failed: 1: id is missing;")
	}
	return nil
}

// parseUpdateBody parses an update's {"doc":...,"upsert":...} line.
func parseUpdateBody(op *writeOp, src []byte, lineNo int) *esError {
	v, err := decodeJSON(src)
	if err != nil {
		return err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return parsingError("[UpdateRequest] update body at line [%d] must be an object, found [%s]", lineNo, jsonKind(v))
	}
	for _, k := range sortedKeys(m) {
		switch k {
		case "doc", "upsert":
			sub, ok := m[k].(map[string]any)
			if !ok {
				return parsingError("[UpdateRequest] [%s] must be an object", k)
			}
			b, _ := json.Marshal(sub)
			if k == "doc" {
				op.source = b
			} else {
				op.upsert = b
			}
		case "doc_as_upsert":
			b, ok := m[k].(bool)
			if !ok {
				return parsingError("[UpdateRequest] [doc_as_upsert] must be a boolean")
			}
			op.docAsUpsert = b
		case "script", "scripted_upsert":
			op.err = illegalArgument("scripted updates are not supported by this server")
		case "detect_noop", "_source", "lang", "if_seq_no", "if_primary_term":
		default:
			return parsingError("[UpdateRequest] unknown field [%s]", k)
		}
	}
	if op.source == nil && op.err == nil {
		op.err = badRequest("action_request_validation_exception", "Validation Failed: 1: script or doc is missing;")
	}
	return nil
}

// checkRefresh validates the refresh parameter and reports whether the
// write must be searchable before the response (true, "", wait_for).
func checkRefresh(v string, present bool) (bool, *esError) {
	if !present {
		return false, nil
	}
	switch v {
	case "", "true", "wait_for":
		return true, nil
	case "false":
		return false, nil
	}
	return false, illegalArgument("Unknown value for refresh: [%s].", v)
}

// execBulk applies parsed items, grouped per index (one bleve batch each).
// With refresh, the written indices are refreshed before it returns.
func (s *Store) execBulk(items []bulkItem, refresh bool) *bulkResponse {
	start := time.Now()
	results := make([]writeResult, len(items))
	indexName := make([]string, len(items))
	groups := map[string][]int{}
	var order []string
	for i, it := range items {
		indexName[i] = it.index
		if _, ok := groups[it.index]; !ok {
			order = append(order, it.index)
		}
		groups[it.index] = append(groups[it.index], i)
	}
	for _, name := range order {
		pos := groups[name]
		ops := make([]writeOp, len(pos))
		for k, p := range pos {
			ops[k] = items[p].op
		}
		res := s.applyOps(name, ops, refresh)
		for k, p := range pos {
			results[p] = res[k]
		}
	}
	h := s.Health()
	resp := &bulkResponse{Items: make([]map[string]itemBody, len(items))}
	for i, r := range results {
		body := s.itemResponse(indexName[i], r, h)
		if r.err != nil {
			resp.Errors = true
		}
		resp.Items[i] = map[string]itemBody{items[i].op.kind.String(): body}
	}
	resp.Took = time.Since(start).Milliseconds()
	return resp
}

// applyOps writes ops to the named index, auto-creating it, and refreshes
// it when asked or when too many writes are pending.
func (s *Store) applyOps(name string, ops []writeOp, refresh bool) []writeResult {
	for attempt := 0; attempt < 3; attempt++ {
		ix, err := s.indexForWrite(name)
		if err != nil {
			res := make([]writeResult, len(ops))
			for i := range res {
				res[i] = writeResult{id: ops[i].id, err: err}
			}
			return res
		}
		if res, ok := ix.apply(s.an, ops); ok {
			if refresh || ix.pendingCount() >= maxPendingOps {
				if err := ix.flush(); err != nil {
					ie := internalError("refresh", err)
					for i := range res {
						if res[i].err == nil {
							res[i].err = ie
						}
					}
				}
			}
			return res
		}
	}
	res := make([]writeResult, len(ops))
	for i := range res {
		res[i] = writeResult{id: ops[i].id, err: newESError(http.StatusServiceUnavailable, "unavailable_shards_exception", "index [%s] was deleted during the write", name)}
	}
	return res
}

func (s *Store) itemResponse(index string, r writeResult, h Health) itemBody {
	body := itemBody{Index: index, ID: r.id}
	if r.err != nil {
		body.Status = r.err.status
		ie := r.err.itemError()
		body.Error = &ie
		return body
	}
	seq, term := r.seqNo, int64(1)
	body.Version, body.Result, body.Status = r.version, r.result, r.status
	body.SeqNo, body.PrimaryTerm = &seq, &term
	body.Shards = &writeShards{Total: h.replicas() + 1, Successful: max(h.NodesUp, 1)}
	if r.result == "noop" {
		body.Shards = &writeShards{}
	}
	return body
}
