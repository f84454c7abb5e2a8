package mysqlwire

import "strings"

// rewriteDDL restructures MySQL DDL into one or more SQLite statements (as
// token lists; the general pass runs on each afterwards). ts starts at the
// first word (CREATE, DROP, ALTER, TRUNCATE, RENAME).
func rewriteDDL(ts []token) ([][]token, error) {
	switch ts[0].up {
	case "CREATE":
		i := 1
		for i < len(ts) && (ts[i].is("TEMPORARY") || ts[i].is("TEMP") || ts[i].is("OR") || ts[i].is("REPLACE")) {
			i++
		}
		switch wordAt(ts, i) {
		case "TABLE":
			return createTable(ts, i+1)
		case "UNIQUE", "FULLTEXT", "SPATIAL", "INDEX":
			return [][]token{createIndex(ts)}, nil
		}
	case "DROP":
		return dropStmt(ts), nil
	case "TRUNCATE":
		i := 1
		if wordAt(ts, i) == "TABLE" {
			i++
		}
		out := []token{word("DELETE"), word("FROM")}
		return [][]token{append(out, ts[i:]...)}, nil
	case "ALTER":
		return alterTable(ts), nil
	}
	return [][]token{ts}, nil
}

func word(w string) token { return token{kind: tkWord, text: w, up: strings.ToUpper(w), sp: true} }

// splitTop splits ts (the inside of a parenthesised list) at top-level commas.
func splitTop(ts []token) [][]token {
	var parts [][]token
	depth, start := 0, 0
	for i, t := range ts {
		switch {
		case t.isOp("("):
			depth++
		case t.isOp(")"):
			depth--
		case t.isOp(",") && depth == 0:
			parts = append(parts, ts[start:i])
			start = i + 1
		}
	}
	return append(parts, ts[start:])
}

// joinTop joins parts with commas.
func joinTop(parts [][]token) []token {
	var out []token
	for i, p := range parts {
		if i > 0 {
			out = append(out, token{kind: tkOp, text: ","})
		}
		out = append(out, p...)
	}
	return out
}

// tableName reads a possibly qualified table name at i: it returns the tokens
// and the index after them.
func tableName(ts []token, i int) ([]token, int) {
	start := i
	if i < len(ts) && (ts[i].kind == tkWord || ts[i].kind == tkIdent) {
		i++
		for i+1 < len(ts) && ts[i].isOp(".") && (ts[i+1].kind == tkWord || ts[i+1].kind == tkIdent) {
			i += 2
		}
	}
	return ts[start:i], i
}

// baseName returns the unqualified, unquoted name of a table reference.
func baseName(ref []token) string {
	if len(ref) == 0 {
		return ""
	}
	n, _ := identName(ref[len(ref)-1])
	return n
}

// keyColumns cleans an index column list "(a(10), b DESC)": prefix lengths go.
func keyColumns(ts []token) []token {
	out := make([]token, 0, len(ts))
	for i := 0; i < len(ts); i++ {
		t := ts[i]
		if (t.kind == tkWord || t.kind == tkIdent) && i+3 < len(ts) && ts[i+1].isOp("(") &&
			ts[i+2].kind == tkNumber && ts[i+3].isOp(")") {
			out = append(out, t)
			i += 3
			continue
		}
		out = append(out, t)
	}
	return out
}

// indexTail parses "[name] [USING x] (cols) [options]" starting at i and
// returns the index name (may be empty) and the cleaned column group.
func indexTail(ts []token, i int) (string, []token, bool) {
	name := ""
	if i < len(ts) && !ts[i].isOp("(") && !ts[i].is("USING") {
		name, _ = identName(ts[i])
		i++
	}
	if wordAt(ts, i) == "USING" {
		i += 2
	}
	if i >= len(ts) || !ts[i].isOp("(") {
		return "", nil, false
	}
	j := closeParen(ts, i)
	if j < 0 {
		return "", nil, false
	}
	return name, keyColumns(ts[i : j+1]), true
}

// createIndexStmt builds CREATE [UNIQUE] INDEX IF NOT EXISTS tbl_name ON tbl cols.
func createIndexStmt(unique bool, table []token, name string, cols []token) []token {
	if name == "" {
		for _, c := range cols {
			if c.kind == tkWord || c.kind == tkIdent {
				name, _ = identName(c)
				break
			}
		}
	}
	out := []token{word("CREATE")}
	if unique {
		out = append(out, word("UNIQUE"))
	}
	out = append(out, word("INDEX"), word("IF"), word("NOT"), word("EXISTS"),
		raw(quoteIdent(baseName(table)+"_"+name)), word("ON"))
	out = append(out, table...)
	return append(out, cols...)
}

// createTable rewrites CREATE TABLE: AUTO_INCREMENT columns, inline KEYs,
// UNIQUE KEY, column COMMENT/ON UPDATE/ENUM and table options.
func createTable(ts []token, i int) ([][]token, error) {
	if wordAt(ts, i) == "IF" && wordAt(ts, i+1) == "NOT" && wordAt(ts, i+2) == "EXISTS" {
		i += 3
	}
	table, i := tableName(ts, i)
	if i >= len(ts) || !ts[i].isOp("(") {
		return [][]token{ts}, nil // CREATE TABLE .. LIKE / AS SELECT: as is
	}
	end := closeParen(ts, i)
	if end < 0 {
		return nil, syntaxErr("unbalanced parentheses in CREATE TABLE")
	}
	items := splitTop(ts[i+1 : end])
	var extra [][]token
	var kept [][]token
	autoCol := ""
	for _, it := range items {
		if len(it) == 0 {
			kept = append(kept, it)
			continue
		}
		if c, ok := autoIncrementColumn(it); ok {
			autoCol = c
			kept = append(kept, []token{it[0], word("INTEGER"), word("PRIMARY"), word("KEY"), word("AUTOINCREMENT")})
			continue
		}
		kept = append(kept, it)
	}
	items, kept = kept, nil
	pk := false // a declared PRIMARY KEY (not the AUTO_INCREMENT column's)
	for _, it := range items {
		if len(it) == 0 {
			kept = append(kept, it)
			continue
		}
		j := 0
		var prefix []token
		if it[0].is("CONSTRAINT") {
			j = 1
			if j < len(it) && !it[j].is("PRIMARY") && !it[j].is("UNIQUE") && !it[j].is("FOREIGN") && !it[j].is("CHECK") {
				j++
			}
			prefix = it[:j]
		}
		switch wordAt(it, j) {
		case "KEY", "INDEX":
			if name, cols, ok := indexTail(it, j+1); ok {
				extra = append(extra, createIndexStmt(false, table, name, cols))
			}
			continue
		case "FULLTEXT", "SPATIAL":
			continue
		case "UNIQUE":
			k := j + 1
			if w := wordAt(it, k); w == "KEY" || w == "INDEX" {
				k++
			}
			if _, cols, ok := indexTail(it, k); ok {
				item := append(append([]token{}, prefix...), word("UNIQUE"))
				kept = append(kept, append(item, cols...))
				continue
			}
		case "PRIMARY":
			if wordAt(it, j+1) == "KEY" {
				if _, cols, ok := indexTail(it, j+2); ok {
					if autoCol != "" && len(cols) == 3 {
						if n, _ := identName(cols[1]); strings.EqualFold(n, autoCol) {
							continue
						}
					}
					item := append(append([]token{}, prefix...), word("PRIMARY"), word("KEY"))
					kept = append(kept, append(item, cols...))
					pk = true
					continue
				}
			}
		case "FOREIGN", "CHECK":
		default:
			if j == 0 {
				col := columnDef(it)
				if k := primaryKeyAt(col); k > 0 {
					// A rowid alias ("INTEGER PRIMARY KEY") is already the table's key.
					pk = pk || !(k == 2 && col[1].is("INTEGER"))
				}
				kept = append(kept, col)
				continue
			}
		}
		kept = append(kept, it)
	}
	out := append([]token{}, ts[:i+1]...)
	out = append(out, joinTop(kept)...)
	out = append(out, ts[end])
	// Table options (ENGINE=, DEFAULT CHARSET=, COMMENT=, AUTO_INCREMENT=...)
	// are dropped; a trailing AS SELECT is kept.
	for k := end + 1; k < len(ts); k++ {
		if ts[k].is("AS") || ts[k].is("SELECT") {
			return append([][]token{append(out, ts[k:]...)}, extra...), nil
		}
	}
	if pk && autoCol == "" {
		// InnoDB clusters rows on the primary key. SQLite does so only for a
		// table WITHOUT ROWID; otherwise it keeps the rows under a hidden
		// rowid and the key in an index beside them, and every lookup or
		// insert by key walks two trees (and reads and writes their pages)
		// instead of one.
		out = append(out, word("WITHOUT"), word("ROWID"))
	}
	return append([][]token{out}, extra...), nil
}

// primaryKeyAt is the index of PRIMARY in a column definition's
// "PRIMARY KEY", or -1.
func primaryKeyAt(col []token) int {
	for i := 1; i+1 < len(col); i++ {
		if col[i].is("PRIMARY") && col[i+1].is("KEY") {
			return i
		}
	}
	return -1
}

// autoIncrementColumn reports whether a column definition carries
// AUTO_INCREMENT, and its name.
func autoIncrementColumn(it []token) (string, bool) {
	if it[0].kind != tkWord && it[0].kind != tkIdent {
		return "", false
	}
	for _, t := range it[1:] {
		if t.is("AUTO_INCREMENT") {
			n, _ := identName(it[0])
			return n, true
		}
	}
	return "", false
}

// columnDef cleans one column definition.
func columnDef(it []token) []token {
	out := make([]token, 0, len(it))
	for i := 0; i < len(it); i++ {
		t := it[i]
		if i == 0 {
			out = append(out, t)
			continue
		}
		switch {
		case t.is("UNSIGNED") || t.is("SIGNED") || t.is("ZEROFILL") || t.is("VISIBLE") || t.is("INVISIBLE"):
			continue
		case t.is("BINARY") && i > 0 && it[i-1].isOp(")"):
			continue
		case t.is("COMMENT") && i+1 < len(it) && it[i+1].kind == tkString:
			i++
			continue
		case t.is("KEY") && len(out) > 0 && out[len(out)-1].is("UNIQUE"):
			continue
		case t.is("ON") && wordAt(it, i+1) == "UPDATE":
			// ON UPDATE CURRENT_TIMESTAMP[(n)] / NOW()
			i += 2
			if i+1 < len(it) && it[i+1].isOp("(") {
				if k := closeParen(it, i+1); k > 0 {
					i = k
				}
			}
			continue
		case (t.is("ENUM") || t.is("SET")) && i == 1 && i+1 < len(it) && it[i+1].isOp("("):
			if k := closeParen(it, i+1); k > 0 {
				out = append(out, word("TEXT"))
				i = k
				continue
			}
		}
		out = append(out, t)
	}
	return out
}

// createIndex cleans CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX name [USING x] ON t (cols) [options].
func createIndex(ts []token) []token {
	out := []token{ts[0]}
	i := 1
	for i < len(ts) && !ts[i].is("INDEX") {
		if ts[i].is("UNIQUE") {
			out = append(out, ts[i])
		}
		i++
	}
	for ; i < len(ts); i++ {
		t := ts[i]
		if t.is("USING") && i+1 < len(ts) {
			i++
			continue
		}
		if t.isOp("(") {
			k := closeParen(ts, i)
			if k < 0 {
				return append(out, ts[i:]...)
			}
			// Index options after the column list are dropped.
			return append(out, keyColumns(ts[i:k+1])...)
		}
		out = append(out, t)
	}
	return out
}

// dropStmt handles DROP INDEX x ON t and DROP TABLE a, b.
func dropStmt(ts []token) [][]token {
	i := 1
	if wordAt(ts, i) == "TEMPORARY" {
		i++
	}
	switch wordAt(ts, i) {
	case "INDEX":
		for k := i + 1; k < len(ts); k++ {
			if ts[k].is("ON") {
				return [][]token{ts[:k]}
			}
		}
	case "TABLE", "TABLES", "VIEW":
		head := []token{word("DROP"), word(ts[i].up)}
		if ts[i].is("TABLES") {
			head[1] = word("TABLE")
		}
		j := i + 1
		if wordAt(ts, j) == "IF" && wordAt(ts, j+1) == "EXISTS" {
			head = append(head, ts[j], ts[j+1])
			j += 2
		}
		rest := ts[j:]
		if n := len(rest); n > 0 && (rest[n-1].is("CASCADE") || rest[n-1].is("RESTRICT")) {
			rest = rest[:n-1]
		}
		var out [][]token
		for _, p := range splitTop(rest) {
			out = append(out, append(append([]token{}, head...), p...))
		}
		return out
	}
	return [][]token{ts}
}

// alterTable handles ALTER TABLE t ADD [UNIQUE] INDEX|KEY name (cols) and
// drops MySQL column placement (FIRST, AFTER c).
func alterTable(ts []token) [][]token {
	if wordAt(ts, 1) != "TABLE" {
		return [][]token{ts}
	}
	table, i := tableName(ts, 2)
	if wordAt(ts, i) == "ADD" {
		j := i + 1
		unique := false
		if wordAt(ts, j) == "UNIQUE" {
			unique = true
			j++
		}
		if w := wordAt(ts, j); w == "INDEX" || w == "KEY" || (unique && w != "") {
			if w == "INDEX" || w == "KEY" {
				j++
			}
			if name, cols, ok := indexTail(ts, j); ok {
				return [][]token{createIndexStmt(unique, table, name, cols)}
			}
		}
	}
	out := make([]token, 0, len(ts))
	for k := 0; k < len(ts); k++ {
		if ts[k].is("AFTER") && k+1 < len(ts) {
			k++
			continue
		}
		if ts[k].is("FIRST") && k == len(ts)-1 {
			continue
		}
		out = append(out, ts[k])
	}
	if len(out) > 0 {
		// ALTER TABLE column definitions get the same cleaning as CREATE TABLE.
		for k := 0; k+1 < len(out); k++ {
			if out[k].is("ADD") || out[k].is("MODIFY") {
				s := k + 1
				if out[s].is("COLUMN") {
					s++
				}
				if s < len(out) {
					cleaned := columnDef(out[s:])
					return [][]token{append(append([]token{}, out[:s]...), cleaned...)}
				}
			}
		}
	}
	return [][]token{out}
}
