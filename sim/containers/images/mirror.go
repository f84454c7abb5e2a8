package images

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Mirror finds the Debian mirror apt uses on this machine for suite: the
// first source of type deb in aptDir/sources.list, then in the files of
// aptDir/sources.list.d (*.list one-line entries, *.sources deb822 stanzas, in
// name order, as apt reads them), whose suites include suite. Security and
// other suites' sources (bookworm-security, bookworm-updates) do not count.
func Mirror(aptDir, suite string) (string, error) {
	files := []string{filepath.Join(aptDir, "sources.list")}
	if ents, err := os.ReadDir(filepath.Join(aptDir, "sources.list.d")); err == nil {
		var names []string
		for _, e := range ents {
			if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, ".list") || strings.HasSuffix(n, ".sources")) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			files = append(files, filepath.Join(aptDir, "sources.list.d", n))
		}
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return "", fmt.Errorf("mirror: %w", err)
		}
		var uri string
		if strings.HasSuffix(f, ".sources") {
			uri, err = mirrorDeb822(fh, suite)
		} else {
			uri, err = mirrorOneLine(fh, suite)
		}
		fh.Close()
		if err != nil {
			return "", fmt.Errorf("mirror: %s: %w", f, err)
		}
		if uri != "" {
			return uri, nil
		}
	}
	return "", fmt.Errorf("mirror: no deb source for %s in %s/sources.list or sources.list.d", suite, aptDir)
}

// mirrorOneLine reads the one-line format:
//
//	deb [option=value ...] URI SUITE [COMPONENT ...]
func mirrorOneLine(r io.Reader, suite string) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if len(f) > 0 && strings.HasPrefix(f[0], "[") { // options, possibly spanning fields
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) >= 2 && f[1] == suite && usableURI(f[0]) {
			return strings.TrimSuffix(f[0], "/"), nil
		}
	}
	return "", sc.Err()
}

// mirrorDeb822 reads deb822 stanzas (Types:, URIs:, Suites:, Enabled:),
// separated by blank lines.
func mirrorDeb822(r io.Reader, suite string) (string, error) {
	sc := bufio.NewScanner(r)
	st := map[string]string{}
	last := ""
	check := func() string {
		defer func() { st = map[string]string{}; last = "" }()
		if !hasField(st["types"], "deb") || !hasField(st["suites"], suite) || strings.EqualFold(st["enabled"], "no") {
			return ""
		}
		for _, u := range strings.Fields(st["uris"]) {
			if usableURI(u) {
				return strings.TrimSuffix(u, "/")
			}
		}
		return ""
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if u := check(); u != "" {
				return u, nil
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && last != "" { // continuation
			st[last] += " " + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		last = strings.ToLower(strings.TrimSpace(k))
		st[last] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return check(), nil
}

func hasField(list, want string) bool {
	for _, f := range strings.Fields(list) {
		if f == want {
			return true
		}
	}
	return false
}

// usableURI is a mirror debootstrap can fetch from.
func usableURI(u string) bool {
	return strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "file:/")
}
