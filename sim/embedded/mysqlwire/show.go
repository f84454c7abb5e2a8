package mysqlwire

import (
	"database/sql"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// sysVarNames lists the system variables SHOW VARIABLES reports.
func sysVarNames() []string {
	names := []string{
		"aurora_server_id", "aurora_version", "auto_increment_increment", "auto_increment_offset", "autocommit",
		"character_set_client", "character_set_connection", "character_set_database", "character_set_results",
		"character_set_server", "collation_connection", "collation_database", "collation_server",
		"hostname", "init_connect", "innodb_lock_wait_timeout", "innodb_read_only", "interactive_timeout",
		"license", "lock_wait_timeout", "lower_case_table_names", "max_allowed_packet", "max_connections",
		"net_buffer_length", "net_write_timeout", "performance_schema", "port", "query_cache_size",
		"query_cache_type", "read_only", "server_id", "sql_mode", "sql_select_limit", "super_read_only",
		"system_time_zone", "time_zone", "transaction_isolation", "transaction_read_only", "tx_isolation",
		"tx_read_only", "version", "version_comment", "wait_timeout",
	}
	return names
}

// sysVar returns the value of @@name (int64, string or nil when unknown).
func (s *session) sysVar(name string) any {
	inst := s.inst
	switch name {
	case "version":
		return ServerVersion
	case "version_comment":
		return "paysim MySQL wire protocol over SQLite (Aurora-like shared storage)"
	case "aurora_version":
		return "3.05.2"
	case "autocommit":
		return boolInt(s.autocommit)
	case "read_only", "innodb_read_only", "super_read_only":
		return boolInt(inst.readOnly.Load())
	case "transaction_read_only", "tx_read_only":
		return boolInt(s.txnRO)
	case "transaction_isolation", "tx_isolation":
		return "REPEATABLE-READ"
	case "max_allowed_packet":
		return int64(maxAllowedPacket)
	case "max_connections":
		return int64(inst.cfg.MaxConnections)
	case "hostname", "aurora_server_id":
		return inst.Name()
	case "port":
		if _, p, err := net.SplitHostPort(inst.Addr()); err == nil {
			n, _ := strconv.ParseInt(p, 10, 64)
			return n
		}
		return int64(0)
	case "server_id":
		return int64(1)
	case "innodb_lock_wait_timeout", "lock_wait_timeout":
		return int64(inst.cfg.LockWaitTimeout / time.Second)
	case "auto_increment_increment", "auto_increment_offset", "query_cache_type":
		return int64(1)
	case "character_set_client", "character_set_connection", "character_set_database",
		"character_set_results", "character_set_server":
		return "utf8mb4"
	case "collation_connection", "collation_database", "collation_server":
		return "utf8mb4_0900_ai_ci"
	case "sql_mode":
		return "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
	case "time_zone":
		return "SYSTEM"
	case "system_time_zone":
		return "UTC"
	case "init_connect":
		return ""
	case "license":
		return "GPL"
	case "lower_case_table_names", "performance_schema", "query_cache_size":
		return int64(0)
	case "wait_timeout", "interactive_timeout":
		return int64(28800)
	case "net_write_timeout":
		return int64(60)
	case "net_buffer_length":
		return int64(16384)
	case "sql_select_limit":
		return int64(math64Max)
	}
	return nil
}

const math64Max = 1<<63 - 1

// set handles SET statements: autocommit matters, everything else
// (NAMES, sql_mode, TRANSACTION ..., user variables) is accepted and ignored.
func (s *session) set(ts []token) error {
	for _, it := range splitTop(ts[1:]) {
		if len(it) == 0 {
			return syntaxErr("near 'SET': missing assignment")
		}
		i := 0
		for i < len(it) && (it[i].is("GLOBAL") || it[i].is("SESSION") || it[i].is("LOCAL") || it[i].is("PERSIST") || it[i].is("PERSIST_ONLY")) {
			i++
		}
		if i >= len(it) {
			return syntaxErr("near 'SET': missing variable")
		}
		switch wordAt(it, i) {
		case "NAMES", "CHARSET", "CHARACTER", "TRANSACTION", "PASSWORD", "ROLE", "DEFAULT":
			continue
		}
		var name string
		switch it[i].kind {
		case tkSysVar:
			name = it[i].val
		case tkWord, tkIdent:
			name, _ = identName(it[i])
			name = strings.ToLower(name)
		case tkUserVar:
			continue
		default:
			return syntaxErr("near '" + it[i].text + "': expected a variable name")
		}
		if i+1 >= len(it) || !(it[i+1].isOp("=") || it[i+1].isOp(":=")) {
			return syntaxErr("near '" + name + "': expected '='")
		}
		if name == "autocommit" {
			v, ok := boolValue(it[i+2:])
			if !ok {
				return myErr(1231, "42000", "Variable 'autocommit' can't be set to the value of '"+compact(it[i+2:])+"'")
			}
			if v && !s.autocommit {
				if err := s.commit(); err != nil {
					return err
				}
			}
			s.autocommit = v
		}
	}
	return nil
}

// boolValue parses the value of a boolean variable.
func boolValue(ts []token) (bool, bool) {
	if len(ts) != 1 {
		return false, false
	}
	t := ts[0]
	v := t.up
	switch t.kind {
	case tkString:
		v = strings.ToUpper(t.val)
	case tkNumber:
		v = t.text
	}
	switch v {
	case "1", "ON", "TRUE":
		return true, true
	case "0", "OFF", "FALSE":
		return false, true
	}
	return false, false
}

// likeMatch matches s against a MySQL LIKE pattern, case-insensitively.
func likeMatch(pattern, s string) bool {
	p, t := []rune(strings.ToLower(pattern)), []rune(strings.ToLower(s))
	// Iterative matcher with backtracking on the last %.
	pi, ti, star, mark := 0, 0, -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && p[pi] == '\\' && pi+1 < len(p) && p[pi+1] == t[ti]:
			pi += 2
			ti++
		case pi < len(p) && (p[pi] == '_' || (p[pi] == t[ti] && p[pi] != '%' && p[pi] != '\\')):
			pi++
			ti++
		case pi < len(p) && p[pi] == '%':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}

// textResult builds a result set of text columns.
func textResult(names []string, rows [][]any) *resultSet {
	rs := &resultSet{cols: make([]column, len(names)), rows: rows}
	for i, n := range names {
		rs.cols[i].name = n
	}
	rs.typeCols(nil)
	for i := range rs.cols {
		if len(rows) == 0 {
			rs.cols[i].setType(mysql.MYSQL_TYPE_VAR_STRING)
		}
	}
	return rs
}

// likeFilter returns the LIKE pattern of "... LIKE 'pat'" in ts, if any.
func likeFilter(ts []token) (string, bool) {
	for i := 0; i+1 < len(ts); i++ {
		if ts[i].is("LIKE") && ts[i+1].kind == tkString {
			return ts[i+1].val, true
		}
	}
	return "", false
}

// tableArg returns the table name after FROM/IN in a SHOW statement.
func tableArg(ts []token) (string, bool) {
	for i := 0; i+1 < len(ts); i++ {
		if ts[i].is("FROM") || ts[i].is("IN") {
			ref, _ := tableName(ts, i+1)
			if len(ref) == 0 {
				return "", false
			}
			return baseName(ref), true
		}
	}
	return "", false
}

// show handles SHOW statements and DESCRIBE t.
func (s *session) show(ts []token) (*resultSet, error) {
	if ts[0].is("DESCRIBE") || ts[0].is("DESC") || ts[0].is("EXPLAIN") {
		ref, _ := tableName(ts, 1)
		if len(ref) == 0 {
			return nil, syntaxErr("DESCRIBE needs a table")
		}
		return s.describe(baseName(ref), false)
	}
	i := 1
	full := false
	for i < len(ts) && (ts[i].is("FULL") || ts[i].is("GLOBAL") || ts[i].is("SESSION") || ts[i].is("EXTENDED")) {
		full = full || ts[i].is("FULL")
		i++
	}
	what := wordAt(ts, i)
	rest := ts[i:]
	switch what {
	case "DATABASES", "SCHEMAS":
		var rows [][]any
		for _, db := range []string{"information_schema", s.inst.cfg.Database} {
			if p, ok := likeFilter(rest); ok && !likeMatch(p, db) {
				continue
			}
			rows = append(rows, []any{db})
		}
		return textResult([]string{"Database"}, rows), nil
	case "TABLES":
		return s.showTables(rest, full)
	case "COLUMNS", "FIELDS":
		t, ok := tableArg(rest)
		if !ok {
			return nil, syntaxErr("SHOW COLUMNS needs FROM table")
		}
		return s.describe(t, full)
	case "CREATE":
		if wordAt(ts, i+1) != "TABLE" {
			return nil, myErr(mysql.ER_NOT_SUPPORTED_YET, "42000", "This version of MySQL doesn't yet support 'SHOW CREATE "+wordAt(ts, i+1)+"'")
		}
		ref, _ := tableName(ts, i+2)
		name := baseName(ref)
		var ddl string
		err := s.cur.conn.QueryRowContext(s.qctx, "SELECT sql FROM sqlite_master WHERE type='table' AND name=?", name).Scan(&ddl)
		if err == sql.ErrNoRows {
			return nil, myErr(1146, "42S02", "Table '"+s.db+"."+name+"' doesn't exist")
		}
		if err != nil {
			return nil, err
		}
		return textResult([]string{"Table", "Create Table"}, [][]any{{name, ddl}}), nil
	case "VARIABLES":
		pat, filtered := likeFilter(rest)
		var rows [][]any
		for _, n := range sysVarNames() {
			if filtered && !likeMatch(pat, n) {
				continue
			}
			v := s.sysVar(n)
			if iv, ok := v.(int64); ok {
				v = strconv.FormatInt(iv, 10)
			}
			rows = append(rows, []any{n, v})
		}
		return textResult([]string{"Variable_name", "Value"}, rows), nil
	case "STATUS":
		st := s.inst.Stats()
		all := [][]any{
			{"Questions", strconv.FormatUint(st.Queries, 10)},
			{"Threads_connected", strconv.Itoa(st.OpenConnections)},
			{"Connections", strconv.FormatUint(st.TotalConnections, 10)},
			{"Innodb_deadlocks", strconv.FormatUint(st.Deadlocks, 10)},
			{"Com_commit", strconv.FormatUint(st.Commits, 10)},
			{"Com_rollback", strconv.FormatUint(st.Rollbacks, 10)},
		}
		pat, filtered := likeFilter(rest)
		var rows [][]any
		for _, r := range all {
			if !filtered || likeMatch(pat, r[0].(string)) {
				rows = append(rows, r)
			}
		}
		return textResult([]string{"Variable_name", "Value"}, rows), nil
	case "WARNINGS", "ERRORS":
		return textResult([]string{"Level", "Code", "Message"}, nil), nil
	case "ENGINES":
		return textResult([]string{"Engine", "Support", "Comment", "Transactions", "XA", "Savepoints"},
			[][]any{{"InnoDB", "DEFAULT", "SQLite storage presented as InnoDB", "YES", "NO", "YES"}}), nil
	case "INDEX", "INDEXES", "KEYS":
		t, ok := tableArg(rest)
		if !ok {
			return nil, syntaxErr("SHOW INDEX needs FROM table")
		}
		return s.showIndex(t)
	case "PROCESSLIST":
		return textResult([]string{"Id", "User", "Host", "db", "Command", "Time", "State", "Info"}, nil), nil
	case "COLLATION", "CHARSET", "CHARACTER", "PLUGINS", "TRIGGERS", "EVENTS", "PRIVILEGES", "GRANTS",
		"MASTER", "SLAVE", "REPLICA", "REPLICAS", "BINARY", "BINLOG", "OPEN", "PROFILES", "FUNCTION", "PROCEDURE", "TABLE":
		return textResult([]string{"Value"}, nil), nil
	}
	return nil, syntaxErr("near 'SHOW " + what + "'")
}

func (s *session) showTables(rest []token, full bool) (*resultSet, error) {
	rows, err := s.cur.conn.QueryContext(s.qctx,
		"SELECT name, type FROM sqlite_master WHERE type IN ('table','view') AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	pat, filtered := likeFilter(rest)
	var out [][]any
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		if filtered && !likeMatch(pat, name) {
			continue
		}
		kind := "BASE TABLE"
		if typ == "view" {
			kind = "VIEW"
		}
		if full {
			out = append(out, []any{name, kind})
		} else {
			out = append(out, []any{name})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	names := []string{"Tables_in_" + s.db}
	if full {
		names = append(names, "Table_type")
	}
	return textResult(names, out), nil
}

// tableColumn is one row of PRAGMA table_info.
type tableColumn struct {
	name, typ string
	notNull   bool
	dflt      sql.NullString
	pk        int
}

func (s *session) tableColumns(table string) ([]tableColumn, error) {
	rows, err := s.cur.conn.QueryContext(s.qctx, "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?)", table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tableColumn
	for rows.Next() {
		var c tableColumn
		if err := rows.Scan(&c.name, &c.typ, &c.notNull, &c.dflt, &c.pk); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, myErr(1146, "42S02", "Table '"+s.db+"."+table+"' doesn't exist")
	}
	return out, nil
}

func (s *session) describe(table string, full bool) (*resultSet, error) {
	cols, err := s.tableColumns(table)
	if err != nil {
		return nil, err
	}
	var ddl string
	_ = s.cur.conn.QueryRowContext(s.qctx, "SELECT sql FROM sqlite_master WHERE name=?", table).Scan(&ddl)
	auto := strings.Contains(strings.ToUpper(ddl), "AUTOINCREMENT")
	var rows [][]any
	for _, c := range cols {
		null, key, extra := "YES", "", ""
		if c.notNull || c.pk > 0 {
			null = "NO"
		}
		if c.pk > 0 {
			key = "PRI"
			if auto && strings.EqualFold(c.typ, "INTEGER") {
				extra = "auto_increment"
			}
		}
		var dflt any
		if c.dflt.Valid {
			dflt = strings.Trim(c.dflt.String, "'")
		}
		row := []any{c.name, strings.ToLower(c.typ), null, key, dflt, extra}
		if full {
			row = []any{c.name, strings.ToLower(c.typ), nil, null, key, dflt, extra, "select,insert,update,references", ""}
		}
		rows = append(rows, row)
	}
	names := []string{"Field", "Type", "Null", "Key", "Default", "Extra"}
	if full {
		names = []string{"Field", "Type", "Collation", "Null", "Key", "Default", "Extra", "Privileges", "Comment"}
	}
	rs := textResult(names, rows)
	for i := range rs.cols {
		rs.cols[i].setType(mysql.MYSQL_TYPE_VAR_STRING)
	}
	return rs, nil
}

func (s *session) showIndex(table string) (*resultSet, error) {
	if _, err := s.tableColumns(table); err != nil {
		return nil, err
	}
	rows, err := s.cur.conn.QueryContext(s.qctx,
		"SELECT il.name, il.\"unique\", il.origin, ii.seqno, ii.name FROM pragma_index_list(?) il, pragma_index_info(il.name) ii", table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type idx struct {
		name   string
		unique bool
		origin string
		seq    int64
		col    sql.NullString
	}
	var list []idx
	for rows.Next() {
		var x idx
		if err := rows.Scan(&x.name, &x.unique, &x.origin, &x.seq, &x.col); err != nil {
			return nil, err
		}
		list = append(list, x)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(list, func(a, b int) bool {
		if list[a].name != list[b].name {
			return list[a].name < list[b].name
		}
		return list[a].seq < list[b].seq
	})
	var out [][]any
	for _, x := range list {
		name := x.name
		if x.origin == "pk" {
			name = "PRIMARY"
		}
		out = append(out, []any{table, boolInt(!x.unique), name, x.seq + 1, x.col.String})
	}
	return textResult([]string{"Table", "Non_unique", "Key_name", "Seq_in_index", "Column_name"}, out), nil
}
