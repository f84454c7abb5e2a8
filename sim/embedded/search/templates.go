package search

import (
	"bytes"
	"net/http"
	"sort"
)

// indexTemplate is a composable (_index_template) or legacy (_template)
// index template; only its index_patterns, priority/order and mappings
// matter here.
type indexTemplate struct {
	name     string
	legacy   bool
	patterns []string
	priority int
	mappings any
	raw      map[string]any
}

// matchingTemplates returns the templates to apply to a new index, lowest
// precedence first: the best composable template, or else every matching
// legacy template by order. Caller holds s.mu.
func (s *Store) matchingTemplates(name string) []*indexTemplate {
	var comp, legacy []*indexTemplate
	for _, t := range s.templates {
		if !matchesAny(t.patterns, name) {
			continue
		}
		if t.legacy {
			legacy = append(legacy, t)
		} else {
			comp = append(comp, t)
		}
	}
	if len(comp) > 0 {
		sort.Slice(comp, func(i, j int) bool {
			if comp[i].priority != comp[j].priority {
				return comp[i].priority < comp[j].priority
			}
			return comp[i].name < comp[j].name
		})
		return comp[len(comp)-1:]
	}
	sort.Slice(legacy, func(i, j int) bool {
		if legacy[i].priority != legacy[j].priority {
			return legacy[i].priority < legacy[j].priority
		}
		return legacy[i].name < legacy[j].name
	})
	return legacy
}

func templateKey(legacy bool, name string) string {
	if legacy {
		return "legacy/" + name
	}
	return "composable/" + name
}

func parseTemplate(name string, legacy bool, m map[string]any) (*indexTemplate, *esError) {
	t := &indexTemplate{name: name, legacy: legacy, raw: m}
	pats, err := stringList("index_template", "index_patterns", m["index_patterns"])
	if err != nil {
		return nil, err
	}
	if len(pats) == 0 {
		return nil, badRequest("action_request_validation_exception", "Validation Failed: 1: index patterns are missing;")
	}
	t.patterns = pats
	key := "priority"
	if legacy {
		key = "order"
	}
	if v, ok := m[key]; ok {
		n, ok := intValue(v)
		if !ok {
			return nil, parsingError("[%s] must be an integer", key)
		}
		t.priority = n
	}
	if legacy {
		t.mappings = m["mappings"]
	} else if tm, ok := m["template"].(map[string]any); ok {
		t.mappings = tm["mappings"]
	}
	if t.mappings != nil {
		if e := newMapping().applyMappings(t.mappings); e != nil {
			return nil, e
		}
	}
	return t, nil
}

func (n *Node) handleTemplate(w http.ResponseWriter, r *http.Request, legacy bool, name string) {
	st := n.st
	switch r.Method {
	case mPut, mPost:
		if name == "" {
			noHandler(w, r)
			return
		}
		body, e := n.readBody(r)
		if e != nil {
			writeError(w, r, e)
			return
		}
		if len(bytes.TrimSpace(body)) == 0 {
			writeError(w, r, parsingError("request body is required"))
			return
		}
		m, e := decodeObject(body, "request body")
		if e != nil {
			writeError(w, r, e)
			return
		}
		t, e := parseTemplate(name, legacy, m)
		if e != nil {
			writeError(w, r, e)
			return
		}
		st.mu.Lock()
		st.templates[templateKey(legacy, name)] = t
		st.mu.Unlock()
		writeJSON(w, r, http.StatusOK, map[string]any{"acknowledged": true})
	case mDelete:
		st.mu.Lock()
		_, ok := st.templates[templateKey(legacy, name)]
		delete(st.templates, templateKey(legacy, name))
		st.mu.Unlock()
		if !ok {
			writeError(w, r, newESError(http.StatusNotFound, "resource_not_found_exception", "index_template [%s] missing", name))
			return
		}
		writeJSON(w, r, http.StatusOK, map[string]any{"acknowledged": true})
	case mGet, mHead:
		st.mu.RLock()
		var found []*indexTemplate
		for _, t := range st.templates {
			if t.legacy == legacy && (name == "" || wildcardMatch(name, t.name)) {
				found = append(found, t)
			}
		}
		st.mu.RUnlock()
		sort.Slice(found, func(i, j int) bool { return found[i].name < found[j].name })
		if name != "" && len(found) == 0 {
			writeError(w, r, newESError(http.StatusNotFound, "resource_not_found_exception", "index template matching [%s] not found", name))
			return
		}
		if legacy {
			out := map[string]any{}
			for _, t := range found {
				out[t.name] = t.raw
			}
			writeJSON(w, r, http.StatusOK, out)
			return
		}
		list := make([]any, 0, len(found))
		for _, t := range found {
			list = append(list, map[string]any{"name": t.name, "index_template": t.raw})
		}
		writeJSON(w, r, http.StatusOK, map[string]any{"index_templates": list})
	default:
		allow(w, r, mGet, mHead, mPut, mPost, mDelete)
	}
}
