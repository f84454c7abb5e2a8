package images

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestInputsHash(t *testing.T) {
	base := Inputs{Kind: KindBase, Lines: []string{"suite=bookworm", "packages=a,b"}}
	tests := []struct {
		name string
		in   Inputs
		same bool
	}{
		{"identical", Inputs{Kind: KindBase, Lines: []string{"suite=bookworm", "packages=a,b"}}, true},
		{"line order does not matter", Inputs{Kind: KindBase, Lines: []string{"packages=a,b", "suite=bookworm"}}, true},
		{"a changed value", Inputs{Kind: KindBase, Lines: []string{"suite=trixie", "packages=a,b"}}, false},
		{"an added line", Inputs{Kind: KindBase, Lines: []string{"suite=bookworm", "packages=a,b", "x=1"}}, false},
		{"another kind", Inputs{Kind: KindNode, Lines: []string{"suite=bookworm", "packages=a,b"}}, false},
		{"lines are not concatenated", Inputs{Kind: KindBase, Lines: []string{"suite=bookwormpackages=a,b"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Hash() == base.Hash(); got != tt.same {
				t.Fatalf("hash equal = %v, want %v", got, tt.same)
			}
		})
	}
	if ref := base.Ref(); !regexp.MustCompile(`^paysim-base:[0-9a-f]{12}$`).MatchString(ref) {
		t.Fatalf("Ref() = %q, want paysim-base:<12 hex>", ref)
	}
}

func TestBaseInputs(t *testing.T) {
	b := DefaultBase()
	ref := b.Inputs().Ref()
	if ref != BaseRef() {
		t.Fatalf("BaseRef() = %q, want %q", BaseRef(), ref)
	}
	shuffled := b
	shuffled.Packages = []string{"tini", "iptables", "iproute2", "redis-sentinel", "redis-server", "mariadb-server"}
	if shuffled.Inputs().Ref() != ref {
		t.Error("package order changed the tag")
	}
	more := b
	more.Packages = append(append([]string(nil), b.Packages...), "curl")
	if more.Inputs().Ref() == ref {
		t.Error("an added package did not change the tag")
	}
	keep := b
	keep.Drop = b.Drop[1:]
	if keep.Inputs().Ref() == ref {
		t.Error("a change to what is dropped did not change the tag")
	}
	for _, want := range []string{"mariadb-server", "redis-server", "redis-sentinel", "iproute2", "iptables", "tini"} {
		if !strings.Contains(b.Dockerfile(), want) {
			t.Errorf("the dockerfile recipe lacks %s", want)
		}
	}
	if !strings.HasPrefix(b.Dockerfile(), "FROM debian:bookworm-slim\n") {
		t.Errorf("dockerfile recipe starts %q", strings.SplitN(b.Dockerfile(), "\n", 2)[0])
	}
}

func TestStaticInputs(t *testing.T) {
	node, toxi := staticFor(KindNode), staticFor(KindToxiproxy)
	if node.inputs("aa").Ref() == node.inputs("bb").Ref() {
		t.Error("another binary gave the same node tag")
	}
	if node.inputs("aa").Ref() != node.inputs("aa").Ref() {
		t.Error("the same binary gave two node tags")
	}
	if !strings.HasPrefix(toxi.inputs("aa").Ref(), "paysim-toxiproxy:") || !strings.HasPrefix(node.inputs("aa").Ref(), "paysim-node:") {
		t.Errorf("refs %q %q", toxi.inputs("aa").Ref(), node.inputs("aa").Ref())
	}
	if !strings.Contains(toxi.dockerfile(), `ENTRYPOINT ["/toxiproxy"]`) || !strings.Contains(toxi.dockerfile(), `CMD ["-host","0.0.0.0"]`) {
		t.Errorf("toxiproxy recipe:\n%s", toxi.dockerfile())
	}
	if !strings.HasPrefix(node.dockerfile(), "FROM scratch\n") || !strings.Contains(node.dockerfile(), `ENTRYPOINT ["/paysim"]`) {
		t.Errorf("node recipe:\n%s", node.dockerfile())
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range Kinds() {
		if got, err := ParseKind(string(k)); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %q, %v", k, got, err)
		}
	}
	for _, bad := range []string{"", "mariadb", "Base"} {
		if _, err := ParseKind(bad); err == nil {
			t.Errorf("ParseKind(%q) accepted", bad)
		}
	}
}

func TestChooseBuilder(t *testing.T) {
	ok := host{goos: "linux", euid: 0, debootstrap: "/usr/sbin/debootstrap", mirror: "http://deb.debian.org/debian"}
	notRoot := ok
	notRoot.euid = 1000
	mac := ok
	mac.goos = "darwin"
	missing := ok
	missing.debootstrap = ""
	noMirror := ok
	noMirror.mirror, noMirror.mirrorErr = "", errors.New("mirror: no deb source for bookworm")
	tests := []struct {
		name    string
		want    string
		h       host
		builder string
		why     string
		wantErr string
	}{
		{"auto where debootstrap runs", BuilderAuto, ok, BuilderDebootstrap, "debootstrap from http://deb.debian.org/debian", ""},
		{"empty means auto", "", ok, BuilderDebootstrap, "debootstrap", ""},
		{"auto, not root", BuilderAuto, notRoot, BuilderDockerfile, "not root", ""},
		{"auto, not Linux", BuilderAuto, mac, BuilderDockerfile, "not Linux", ""},
		{"auto, no debootstrap", BuilderAuto, missing, BuilderDockerfile, "debootstrap is not installed", ""},
		{"auto, no mirror", BuilderAuto, noMirror, BuilderDockerfile, "no deb source", ""},
		{"debootstrap asked, it runs", BuilderDebootstrap, ok, BuilderDebootstrap, "debootstrap", ""},
		{"debootstrap asked, cannot run", BuilderDebootstrap, missing, "", "", "debootstrap cannot run here: debootstrap is not installed"},
		{"dockerfile asked", BuilderDockerfile, ok, BuilderDockerfile, "asked for", ""},
		{"unknown builder", "kaniko", ok, "", "", "unknown builder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, why, err := chooseBuilder(tt.want, tt.h, "debian:bookworm-slim")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("chooseBuilder() = %q, %v; want error containing %q", b, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b != tt.builder || !strings.Contains(why, tt.why) {
				t.Fatalf("chooseBuilder() = %q, %q; want %q with a reason containing %q", b, why, tt.builder, tt.why)
			}
			if b == BuilderDockerfile && tt.want == BuilderAuto && !strings.Contains(why, "pulls") {
				t.Fatalf("the fallback does not say that the engine pulls the parent image: %q", why)
			}
		})
	}
}

func TestCheckStatic(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\nimport \"net\"\nfunc main() { _, _ = net.LookupHost(\"localhost\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module statictest\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	static := filepath.Join(dir, "static")
	if err := GoBuildStatic(t.Context(), goTool, dir, ".", static); err != nil {
		t.Fatal(err)
	}
	if err := CheckStatic(static); err != nil {
		t.Fatalf("a CGO_ENABLED=0 build: %v", err)
	}
	// A dynamically linked program: this machine's shell.
	for _, p := range []string{"/bin/sh", "/usr/bin/env"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := CheckStatic(p); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			t.Fatalf("CheckStatic(%s) = %v, want a dynamic-linking error", p, err)
		}
	}
	if err := CheckStatic(src); err == nil {
		t.Fatal("CheckStatic accepted a text file")
	}
}

func TestFindModule(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := FindModule(wd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "paysim")); err != nil {
		t.Fatalf("FindModule(%s) = %s, which has no cmd/paysim", wd, root)
	}
	if _, err := FindModule(t.TempDir()); err == nil {
		t.Fatal("FindModule found paysim in an empty directory")
	}
}

func TestLastLines(t *testing.T) {
	var seen []string
	l := &lastLines{n: 2, onLine: func(s string) { seen = append(seen, s) }}
	for _, chunk := range []string{"I: one\nI: t", "wo\n", "three\nfour"} {
		if _, err := l.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(seen, "|"); got != "I: one|I: two|three" {
		t.Fatalf("lines seen = %q", got)
	}
	if got := l.String(); got != "I: two\nthree" {
		t.Fatalf("last lines = %q", got)
	}
}

func TestReadStream(t *testing.T) {
	var msgs []string
	ok := `{"stream":"Step 1/3 : FROM scratch\n"}{"status":"sha256:abc"}`
	if err := readStream(strings.NewReader(ok), func(s string) { msgs = append(msgs, s) }); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0] != "Step 1/3 : FROM scratch" {
		t.Fatalf("messages = %q", msgs)
	}
	bad := `{"stream":"Step 1/3"}{"errorDetail":{"message":"COPY failed: no such file"},"error":"COPY failed: no such file"}`
	if err := readStream(strings.NewReader(bad), nil); err == nil || !strings.Contains(err.Error(), "COPY failed") {
		t.Fatalf("readStream(error stream) = %v", err)
	}
	if err := readStream(strings.NewReader(`{"stream":`), nil); err == nil {
		t.Fatal("readStream accepted a truncated stream")
	}
}

func TestStaleKeepsTheNewestOfEachKindAndTheCurrentBase(t *testing.T) {
	im := func(ref string, k Kind) Image { return Image{Ref: ref, Kind: k} }
	// As List orders them: by kind, newest first.
	list := []Image{
		im("paysim-base:new", KindBase), im("paysim-base:cur", KindBase), im("paysim-base:old", KindBase),
		im("paysim-node:3", KindNode), im("paysim-node:2", KindNode), im("paysim-node:1", KindNode),
		im("paysim-toxiproxy:1", KindToxiproxy),
	}
	refs := func(ims []Image) []string {
		var out []string
		for _, i := range ims {
			out = append(out, i.Ref)
		}
		return out
	}
	tests := []struct {
		name string
		list []Image
		keep int
		want []string
	}{
		{"keep one", list, 1, []string{"paysim-base:old", "paysim-node:2", "paysim-node:1"}},
		{"keep two", list, 2, []string{"paysim-base:old", "paysim-node:1"}},
		{"keep more than there are", list, 5, nil},
		{"nothing built", nil, 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := refs(stale(tc.list, tc.keep, "paysim-base:cur"))
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("stale: %v, want %v", got, tc.want)
			}
		})
	}
}
