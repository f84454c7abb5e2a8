package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeApt lays out an apt directory: files maps a path under it to content.
func writeApt(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestMirror(t *testing.T) {
	const thisMachine = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
`
	tests := []struct {
		name    string
		files   map[string]string
		want    string
		wantErr string
	}{
		{"deb822 as on this machine", map[string]string{"sources.list.d/debian.sources": thisMachine}, "http://deb.debian.org/debian", ""},
		{"one-line with options and trailing slash", map[string]string{
			"sources.list": "# comment\ndeb-src http://src.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main contrib\n",
		}, "http://mirror.example/debian", ""},
		{"sources.list before sources.list.d", map[string]string{
			"sources.list":                  "deb http://first.example/debian bookworm main\n",
			"sources.list.d/debian.sources": thisMachine,
		}, "http://first.example/debian", ""},
		{"only the suite itself counts", map[string]string{
			"sources.list":                "deb http://security.example/debian-security bookworm-security main\n",
			"sources.list.d/other.list":   "deb http://updates.example/debian bookworm-updates main\n",
			"sources.list.d/z-main.list":  "deb http://main.example/debian bookworm main\n",
			"sources.list.d/cloud.list.x": "deb http://cloud.example/apt bookworm main\n",
		}, "http://main.example/debian", ""},
		{"files apt ignores are ignored", map[string]string{
			"sources.list.d/google-cloud-sdk.list.disabled-by-farm": "deb http://wrong.example/debian bookworm main\n",
			"sources.list.d/debian.sources":                         thisMachine,
		}, "http://deb.debian.org/debian", ""},
		{"disabled deb822 stanza skipped", map[string]string{
			"sources.list.d/a.sources": "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n\nTypes: deb deb-src\nURIs: http://on.example/debian\nSuites: bookworm\n",
		}, "http://on.example/debian", ""},
		{"deb-src only is not a mirror", map[string]string{
			"sources.list.d/a.sources": "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n",
		}, "", "no deb source for bookworm"},
		{"no apt sources at all", map[string]string{}, "", "no deb source for bookworm"},
		{"other suite only", map[string]string{"sources.list": "deb http://deb.debian.org/debian trixie main\n"}, "", "no deb source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Mirror(writeApt(t, tt.files), "bookworm")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Mirror() = %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Mirror() = %q, want %q", got, tt.want)
			}
		})
	}
}
