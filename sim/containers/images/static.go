package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"

	"paysim/sim/containers/engine"
)

// staticImage is a FROM-scratch image of one static binary.
type staticImage struct {
	kind Kind
	pkg  string // what `go build` builds
	file string // where the binary lives in the image
	args []string
}

func staticFor(k Kind) staticImage {
	if k == KindToxiproxy {
		return staticImage{kind: k, pkg: "github.com/Shopify/toxiproxy/v2/cmd/server", file: "toxiproxy",
			args: []string{"-host", "0.0.0.0"}}
	}
	return staticImage{kind: k, pkg: "./cmd/paysim", file: "paysim"}
}

// dockerfile is the image's recipe: the binary alone, and an empty /tmp.
func (s staticImage) dockerfile() string {
	cmd := ""
	if len(s.args) > 0 {
		q, _ := json.Marshal(s.args)
		cmd = "CMD " + string(q) + "\n"
	}
	return fmt.Sprintf("FROM scratch\nCOPY rootfs/ /\nENTRYPOINT [\"/%s\"]\n%s", s.file, cmd)
}

// Inputs are the binary's hash and the recipe.
func (s staticImage) inputs(binSum string) Inputs {
	return Inputs{Kind: s.kind, Lines: []string{"binary=sha256:" + binSum, "dockerfile=" + s.dockerfile()}}
}

func buildStatic(ctx context.Context, eng *engine.Engine, opt Options, k Kind, step Step) (Result, error) {
	s := staticFor(k)
	work, err := tempDir(opt, "paysim-"+string(k)+"-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(work)
	bin := filepath.Join(work, "rootfs", s.file)
	if err := os.MkdirAll(filepath.Join(work, "rootfs", "tmp"), 0o755); err != nil {
		return Result{}, fmt.Errorf("context: %w", err)
	}
	how, err := s.binary(ctx, opt, bin, step)
	if err != nil {
		return Result{}, err
	}
	if err := CheckStatic(bin); err != nil {
		return Result{}, err
	}
	sum, err := fileSum(bin)
	if err != nil {
		return Result{}, err
	}
	in := s.inputs(sum)
	ref, hash := in.Ref(), in.Hash()
	if r, ok, err := existing(ctx, eng, opt, k, ref); err != nil || ok {
		return r, err
	}
	step.Status("building " + ref)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := addFile(tw, "Dockerfile", []byte(s.dockerfile()), 0o644); err != nil {
		return Result{}, err
	}
	if err := addDir(tw, "rootfs/tmp/", 0o1777); err != nil {
		return Result{}, err
	}
	if err := addPath(tw, "rootfs/"+s.file, bin, 0o755); err != nil {
		return Result{}, err
	}
	if err := tw.Close(); err != nil {
		return Result{}, fmt.Errorf("context: %w", err)
	}
	if err := buildContext(ctx, eng, &buf, ref, labels(k, hash, "scratch"), step); err != nil {
		return Result{}, err
	}
	img, err := inspect(ctx, eng, k, ref, "scratch", hash)
	return Result{Image: img, Built: true, How: how}, err
}

// binary puts the static binary at out: `CGO_ENABLED=0 go build` in the
// source tree, or, for the node image without one, opt.Self.
func (s staticImage) binary(ctx context.Context, opt Options, out string, step Step) (string, error) {
	dir := opt.ModuleDir
	if dir == "" {
		if wd, err := os.Getwd(); err == nil {
			dir, _ = FindModule(wd)
		}
	}
	goTool, lookErr := exec.LookPath("go")
	if dir != "" && lookErr == nil {
		step.Status("go build " + s.pkg + " (CGO_ENABLED=0)")
		if err := GoBuildStatic(ctx, goTool, dir, s.pkg, out); err != nil {
			return "", err
		}
		return "CGO_ENABLED=0 go build " + s.pkg, nil
	}
	if s.kind == KindNode && opt.Self != "" {
		if err := CheckStatic(opt.Self); err != nil {
			return "", fmt.Errorf("no paysim source tree or go tool to build a static binary, and this binary will not do: %w", err)
		}
		if err := copyFile(opt.Self, out); err != nil {
			return "", err
		}
		return "this static paysim binary", nil
	}
	return "", errors.New("needs paysim's source tree (run it from a checkout) and a Go toolchain on PATH to build " + s.pkg)
}

// FindModule returns the directory of the go.mod declaring module paysim at
// or above dir.
func FindModule(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil {
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
					if f[1] == "paysim" {
						return d, nil
					}
					break
				}
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no paysim go.mod at or above %s", dir)
		}
	}
}

// GoBuildStatic builds pkg in the module at dir into out with cgo off, so
// the binary runs in an image with nothing else in it. The flags make the
// output depend on the code only (not the checkout's path or VCS state), so
// an unchanged tree gives the same binary and the image is not rebuilt.
func GoBuildStatic(ctx context.Context, goTool, dir, pkg, out string) error {
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("go build %s: %w", pkg, ctx.Err())
		}
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, strings.TrimSpace(buf.String()))
	}
	return nil
}

// CheckStatic fails unless path is an ELF executable with no dynamic
// loader and no shared libraries: one that runs FROM scratch.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("static check: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("static check: %s is dynamically linked (has an ELF interpreter); build it with CGO_ENABLED=0", path)
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		return fmt.Errorf("static check: %s needs shared libraries %v; build it with CGO_ENABLED=0", path, libs)
	}
	return nil
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy: %w", err)
	}
	return out.Close()
}

// buildContext sends a tar build context to the engine's classic builder and
// waits for the image.
func buildContext(ctx context.Context, eng *engine.Engine, tarCtx io.Reader, ref string, lbls map[string]string, step Step) error {
	res, err := eng.Client().ImageBuild(ctx, tarCtx, client.ImageBuildOptions{
		Tags: []string{ref}, Labels: lbls, Remove: true, ForceRemove: true,
		Dockerfile: "Dockerfile", Version: build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	defer res.Body.Close()
	if err := readStream(res.Body, func(s string) { step.Status(s) }); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	return nil
}

// readStream reads the engine's JSON message stream (build or import
// output) to its end, passing each non-empty message to onMsg, and returns
// the error the stream reports, if any.
func readStream(r io.Reader, onMsg func(string)) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Stream      string `json:"stream"`
			Status      string `json:"status"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read engine output: %w", err)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if msg := strings.TrimSpace(m.Stream + m.Status); msg != "" && onMsg != nil {
			onMsg(msg)
		}
	}
}

func addFile(tw *tar.Writer, name string, data []byte, mode int64) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("context: %w", err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("context: %w", err)
	}
	return nil
}

func addDir(tw *tar.Writer, name string, mode int64) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, ModTime: time.Unix(0, 0), Typeflag: tar.TypeDir}); err != nil {
		return fmt.Errorf("context: %w", err)
	}
	return nil
}

func addPath(tw *tar.Writer, name, path string, mode int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("context: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("context: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: fi.Size(), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("context: %w", err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("context: %w", err)
	}
	return nil
}
