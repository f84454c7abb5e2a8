package search

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ServeHTTP serves the Elasticsearch API. Every response carries
// X-Elastic-Product: Elasticsearch; panics become ES-shaped 500s.
func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			writeError(w, r, newESError(http.StatusInternalServerError, "exception", "internal error: %v", p))
		}
	}()
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, n.maxBody.Load())
	}
	segs, err := splitPath(r.URL.EscapedPath())
	if err != nil {
		writeError(w, r, illegalArgument("invalid path [%s]: %v", r.URL.Path, err))
		return
	}
	n.route(w, r, segs)
}

func splitPath(p string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s == "" {
			continue
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, fmt.Errorf("unescape path: %w", err)
		}
		out = append(out, u)
	}
	return out, nil
}

// readBody reads the (possibly gzip-compressed) request body within the
// size limit.
func (n *Node) readBody(r *http.Request) ([]byte, *esError) {
	if r.Body == nil {
		return nil, nil
	}
	limit := n.maxBody.Load()
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, badRequest("parse_exception", "invalid gzip request body: %v", err)
		}
		defer zr.Close()
		rd = io.LimitReader(zr, limit+1)
	}
	b, err := io.ReadAll(rd)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || int64(len(b)) > limit {
		return nil, newESError(http.StatusRequestEntityTooLarge, "content_too_long_exception",
			"request body is too large, limit is %d bytes", limit)
	}
	if err != nil {
		return nil, badRequest("parse_exception", "read request body: %v", err)
	}
	return b, nil
}

func contentType(r *http.Request) string {
	if strings.Contains(r.Header.Get("Accept"), "compatible-with") {
		return "application/vnd.elasticsearch+json;compatible-with=8"
	}
	return "application/json"
}

// writeJSON writes v with status (no body for HEAD).
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	var b []byte
	var err error
	if _, pretty := r.URL.Query()["pretty"]; pretty {
		b, err = json.MarshalIndent(v, "", "  ")
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(newESError(status, "exception", "encode response: %v", err).body())
	}
	w.Header().Set("Content-Type", contentType(r))
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	b = append(b, '\n')
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, r *http.Request, e *esError) {
	writeJSON(w, r, e.status, e.body())
}

func writeText(w http.ResponseWriter, r *http.Request, status int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, s)
	}
}

// allow answers 405 unless the method is one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ","))
	e := newESError(http.StatusMethodNotAllowed, "illegal_argument_exception",
		"Incorrect HTTP method for uri [%s] and method [%s], allowed: [%s]", r.URL.RequestURI(), r.Method, strings.Join(methods, ", "))
	writeError(w, r, e)
	return false
}

func noHandler(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, illegalArgument("no handler found for uri [%s] and method [%s]", r.URL.RequestURI(), r.Method))
}

const (
	mGet    = http.MethodGet
	mHead   = http.MethodHead
	mPost   = http.MethodPost
	mPut    = http.MethodPut
	mDelete = http.MethodDelete
)

// route dispatches on the path segments.
func (n *Node) route(w http.ResponseWriter, r *http.Request, segs []string) {
	if len(segs) == 0 {
		if allow(w, r, mGet, mHead) {
			n.handleRoot(w, r)
		}
		return
	}
	if strings.HasPrefix(segs[0], "_") && segs[0] != "_all" {
		n.routeSystem(w, r, segs)
		return
	}
	n.routeIndex(w, r, segs[0], segs[1:])
}

func (n *Node) routeSystem(w http.ResponseWriter, r *http.Request, segs []string) {
	rest := segs[1:]
	switch segs[0] {
	case "_cluster":
		if len(rest) >= 1 && len(rest) <= 2 && rest[0] == "health" {
			if allow(w, r, mGet) {
				expr := ""
				if len(rest) == 2 {
					expr = rest[1]
				}
				n.handleHealth(w, r, expr)
			}
			return
		}
	case "_cat":
		if len(rest) == 0 {
			if allow(w, r, mGet) {
				writeText(w, r, http.StatusOK, "=^.^=\n/_cat/indices\n/_cat/indices/{index}\n/_cat/health\n/_cat/nodes\n/_cat/count\n/_cat/count/{index}\n")
			}
			return
		}
		if len(rest) <= 2 {
			expr := ""
			if len(rest) == 2 {
				expr = rest[1]
			}
			if allow(w, r, mGet) {
				n.handleCat(w, r, rest[0], expr)
			}
			return
		}
	case "_bulk":
		if len(rest) == 0 && allow(w, r, mPost, mPut) {
			n.handleBulk(w, r, "")
		}
		if len(rest) == 0 {
			return
		}
	case "_search":
		if len(rest) == 0 && allow(w, r, mGet, mPost) {
			n.handleSearch(w, r, "_all")
		}
		if len(rest) == 0 {
			return
		}
	case "_count":
		if len(rest) == 0 && allow(w, r, mGet, mPost) {
			n.handleCount(w, r, "_all")
		}
		if len(rest) == 0 {
			return
		}
	case "_refresh", "_flush":
		if len(rest) == 0 && allow(w, r, mGet, mPost) {
			n.handleRefresh(w, r, "_all")
		}
		if len(rest) == 0 {
			return
		}
	case "_mapping":
		if len(rest) == 0 && allow(w, r, mGet) {
			n.handleGetMapping(w, r, "_all")
		}
		if len(rest) == 0 {
			return
		}
	case "_index_template", "_template":
		if len(rest) <= 1 {
			name := ""
			if len(rest) == 1 {
				name = rest[0]
			}
			n.handleTemplate(w, r, segs[0] == "_template", name)
			return
		}
	case "_nodes":
		if allow(w, r, mGet) {
			n.handleNodes(w, r)
		}
		return
	default:
		if len(segs) == 1 {
			writeError(w, r, validateIndexName(segs[0]))
			return
		}
	}
	noHandler(w, r)
}

func (n *Node) routeIndex(w http.ResponseWriter, r *http.Request, idx string, rest []string) {
	if len(rest) == 0 {
		switch r.Method {
		case mPut:
			n.handleCreateIndex(w, r, idx)
		case mDelete:
			n.handleDeleteIndex(w, r, idx)
		case mHead, mGet:
			n.handleGetIndex(w, r, idx)
		default:
			allow(w, r, mGet, mHead, mPut, mDelete)
		}
		return
	}
	op := rest[0]
	args := rest[1:]
	switch {
	case op == "_doc" && len(args) == 0:
		if allow(w, r, mPost) {
			n.handleIndexDoc(w, r, idx, "", false)
		}
	case op == "_doc" && len(args) == 1:
		switch r.Method {
		case mPut, mPost:
			n.handleIndexDoc(w, r, idx, args[0], false)
		case mGet, mHead:
			n.handleGetDoc(w, r, idx, args[0], false)
		case mDelete:
			n.handleDeleteDoc(w, r, idx, args[0])
		default:
			allow(w, r, mGet, mHead, mPut, mPost, mDelete)
		}
	case op == "_create" && len(args) == 1:
		if allow(w, r, mPut, mPost) {
			n.handleIndexDoc(w, r, idx, args[0], true)
		}
	case op == "_update" && len(args) == 1:
		if allow(w, r, mPost) {
			n.handleUpdate(w, r, idx, args[0])
		}
	case op == "_source" && len(args) == 1:
		if allow(w, r, mGet, mHead) {
			n.handleGetDoc(w, r, idx, args[0], true)
		}
	case len(args) == 0:
		switch op {
		case "_bulk":
			if allow(w, r, mPost, mPut) {
				n.handleBulk(w, r, idx)
			}
		case "_search":
			if allow(w, r, mGet, mPost) {
				n.handleSearch(w, r, idx)
			}
		case "_count":
			if allow(w, r, mGet, mPost) {
				n.handleCount(w, r, idx)
			}
		case "_refresh", "_flush":
			if allow(w, r, mGet, mPost) {
				n.handleRefresh(w, r, idx)
			}
		case "_mapping":
			switch r.Method {
			case mGet:
				n.handleGetMapping(w, r, idx)
			case mPut, mPost:
				n.handlePutMapping(w, r, idx)
			default:
				allow(w, r, mGet, mPut, mPost)
			}
		case "_settings":
			switch r.Method {
			case mGet:
				n.handleGetSettings(w, r, idx)
			case mPut:
				n.handlePutSettings(w, r, idx)
			default:
				allow(w, r, mGet, mPut)
			}
		case "_delete_by_query":
			if allow(w, r, mPost) {
				n.handleDeleteByQuery(w, r, idx)
			}
		default:
			noHandler(w, r)
		}
	default:
		noHandler(w, r)
	}
}
