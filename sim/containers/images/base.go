package images

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"paysim/sim/containers/engine"
)

// Base builders.
const (
	BuilderAuto        = "auto"        // debootstrap where it can run, else dockerfile
	BuilderDebootstrap = "debootstrap" // debootstrap + docker import: no registry needed
	BuilderDockerfile  = "dockerfile"  // FROM debian:bookworm-slim: the engine pulls it
)

// Base is the recipe of the base image.
type Base struct {
	Suite    string
	Variant  string
	Packages []string
	// Drop lists paths (globs under the root) removed to shrink the image:
	// documentation, locales, apt's lists and cache.
	Drop []string
	// From is the image the dockerfile builder starts from.
	From string
}

// DefaultBase is what the data tier needs: MariaDB 10.11, Redis 7 and
// Sentinel from Debian bookworm, with iproute2 (ip, tc), iptables and tini.
func DefaultBase() Base {
	return Base{
		Suite:    "bookworm",
		Variant:  "minbase",
		Packages: []string{"mariadb-server", "redis-server", "redis-sentinel", "iproute2", "iptables", "tini"},
		Drop: []string{
			"usr/share/doc/*", "usr/share/man/*", "usr/share/info/*", "usr/share/locale/*",
			"var/lib/apt/lists/*", "var/cache/apt/*", "var/cache/debconf/*-old", "var/log/*.log",
		},
		From: "debian:bookworm-slim",
	}
}

// baseRecipeVersion changes when the way the base is made changes in a way
// its other inputs do not show.
const baseRecipeVersion = "1"

// Inputs are the base's recipe: the same on every mirror and either builder.
func (b Base) Inputs() Inputs {
	pk := append([]string(nil), b.Packages...)
	sortStrings(pk)
	return Inputs{Kind: KindBase, Lines: []string{
		"recipe=" + baseRecipeVersion,
		"suite=" + b.Suite,
		"variant=" + b.Variant,
		"packages=" + strings.Join(pk, ","),
		"drop=" + strings.Join(b.Drop, ","),
		"entrypoint=" + strings.Join(baseEntrypoint, " "),
	}}
}

// BaseRef is the reference of the default base image, what the data tier
// runs unless told otherwise.
func BaseRef() string { return DefaultBase().Inputs().Ref() }

var baseEntrypoint = []string{"/usr/bin/tini", "--"}

// host is what decides whether debootstrap can run here.
type host struct {
	goos        string
	euid        int
	debootstrap string // its path, "" when not installed
	mirror      string
	mirrorErr   error
}

func probeHost(opt Options, suite string) host {
	h := host{goos: runtime.GOOS, euid: os.Geteuid()}
	h.debootstrap, _ = exec.LookPath("debootstrap")
	if h.debootstrap == "" {
		for _, p := range []string{"/usr/sbin/debootstrap", "/sbin/debootstrap"} {
			if _, err := os.Stat(p); err == nil {
				h.debootstrap = p
				break
			}
		}
	}
	h.mirror = opt.Mirror
	if h.mirror == "" {
		dir := opt.AptDir
		if dir == "" {
			dir = "/etc/apt"
		}
		h.mirror, h.mirrorErr = Mirror(dir, suite)
	}
	return h
}

// canDebootstrap says why debootstrap cannot run on h, or nil.
func (h host) canDebootstrap() error {
	switch {
	case h.goos != "linux":
		return fmt.Errorf("not Linux (%s)", h.goos)
	case h.euid != 0:
		return fmt.Errorf("not root (euid %d)", h.euid)
	case h.debootstrap == "":
		return fmt.Errorf("debootstrap is not installed")
	case h.mirrorErr != nil:
		return h.mirrorErr
	}
	return nil
}

// chooseBuilder picks the base's builder: want, or for auto debootstrap
// where it can run and the dockerfile otherwise. It returns the builder and
// a sentence saying why.
func chooseBuilder(want string, h host, from string) (string, string, error) {
	why := h.canDebootstrap()
	switch want {
	case BuilderDebootstrap:
		if why != nil {
			return "", "", fmt.Errorf("debootstrap cannot run here: %w", why)
		}
		return BuilderDebootstrap, "debootstrap from " + h.mirror, nil
	case BuilderDockerfile:
		return BuilderDockerfile, "FROM " + from + " (asked for)", nil
	case "", BuilderAuto:
		if why == nil {
			return BuilderDebootstrap, "debootstrap from " + h.mirror, nil
		}
		return BuilderDockerfile, fmt.Sprintf("FROM %s: debootstrap cannot run here (%v), so the engine pulls %s from its registry", from, why, from), nil
	default:
		return "", "", fmt.Errorf("unknown builder %q (want auto, debootstrap or dockerfile)", want)
	}
}

func buildBase(ctx context.Context, eng *engine.Engine, opt Options, step Step) (Result, error) {
	b := DefaultBase()
	in := b.Inputs()
	ref, hash := in.Ref(), in.Hash()
	if r, ok, err := existing(ctx, eng, opt, KindBase, ref); err != nil || ok {
		return r, err
	}
	builder, how, err := chooseBuilder(opt.Builder, probeHost(opt, b.Suite), b.From)
	if err != nil {
		return Result{}, err
	}
	step.Status(how)
	switch builder {
	case BuilderDebootstrap:
		err = b.debootstrap(ctx, eng, opt, ref, hash, step)
	default:
		err = b.dockerfile(ctx, eng, ref, hash, step)
	}
	if err != nil {
		return Result{}, err
	}
	img, err := inspect(ctx, eng, KindBase, ref, builder, hash)
	return Result{Image: img, Built: true, How: how}, err
}

// debootstrap builds the root file system with debootstrap, drops what the
// nodes do not need, and imports it as a one-layer image.
func (b Base) debootstrap(ctx context.Context, eng *engine.Engine, opt Options, ref, hash string, step Step) (err error) {
	h := probeHost(opt, b.Suite)
	work, err := tempDir(opt, "paysim-base-")
	if err != nil {
		return err
	}
	root := filepath.Join(work, "root")
	defer func() {
		if rerr := removeRoot(work); rerr != nil && err == nil {
			err = rerr
		}
	}()
	cmd := exec.CommandContext(ctx, h.debootstrap, "--variant="+b.Variant, "--include="+strings.Join(b.Packages, ","), b.Suite, root, h.mirror)
	killGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	tail := &lastLines{n: 15, onLine: func(l string) {
		if strings.HasPrefix(l, "I: ") {
			step.Status("debootstrap: " + strings.TrimPrefix(l, "I: "))
		}
	}}
	cmd.Stdout, cmd.Stderr = tail, tail
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("debootstrap: %w", ctx.Err())
		}
		return fmt.Errorf("debootstrap: %w\n%s", err, tail.String())
	}
	step.Status("dropping docs, locales, apt lists")
	for _, pat := range b.Drop {
		matches, err := filepath.Glob(filepath.Join(root, pat))
		if err != nil {
			return fmt.Errorf("drop %s: %w", pat, err)
		}
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return fmt.Errorf("drop: %w", err)
			}
		}
	}
	step.Status("importing into the engine")
	return importRoot(ctx, eng, root, ref, []string{
		"LABEL " + LabelKind + "=" + string(KindBase),
		"LABEL " + LabelInputs + "=" + hash,
		"LABEL " + LabelBuilder + "=" + BuilderDebootstrap,
		"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8",
		`ENTRYPOINT ["` + strings.Join(baseEntrypoint, `", "`) + `"]`,
		`CMD ["sh"]`,
	})
}

// importRoot streams `tar -C root -c .` into the engine's image import (the
// API form of `tar -C DIR -c . | docker import - REF`).
func importRoot(ctx context.Context, eng *engine.Engine, root, ref string, changes []string) error {
	tarCmd := exec.CommandContext(ctx, "tar", "-C", root, "--numeric-owner", "-c", ".")
	out, err := tarCmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	var stderr bytes.Buffer
	tarCmd.Stderr = &stderr
	if err := tarCmd.Start(); err != nil {
		return fmt.Errorf("import: tar: %w", err)
	}
	res, err := eng.Client().ImageImport(ctx, client.ImageImportSource{Source: out, SourceName: "-"}, ref,
		client.ImageImportOptions{Changes: changes, Message: "paysim images build"})
	if err != nil {
		_ = tarCmd.Process.Kill()
		_ = tarCmd.Wait()
		return fmt.Errorf("import: %w", err)
	}
	streamErr := readStream(res, nil)
	res.Close()
	if err := tarCmd.Wait(); err != nil {
		return fmt.Errorf("import: tar: %w: %s", err, firstLine(stderr.String()))
	}
	if streamErr != nil {
		return fmt.Errorf("import: %w", streamErr)
	}
	return nil
}

// dockerfile builds the base FROM debian:bookworm-slim with the engine's
// classic builder; the engine pulls the parent image if it lacks it.
func (b Base) dockerfile(ctx context.Context, eng *engine.Engine, ref, hash string, step Step) error {
	df := b.Dockerfile()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := addFile(tw, "Dockerfile", []byte(df), 0o644); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("context: %w", err)
	}
	return buildContext(ctx, eng, &buf, ref, labels(KindBase, hash, BuilderDockerfile), step)
}

// Dockerfile is the base's recipe for the dockerfile builder.
func (b Base) Dockerfile() string {
	var drop []string
	for _, d := range b.Drop {
		drop = append(drop, "/"+d)
	}
	return fmt.Sprintf(`FROM %s
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends %s \
 && rm -rf %s
ENV LANG=C.UTF-8
ENTRYPOINT ["%s"]
CMD ["sh"]
`, b.From, strings.Join(b.Packages, " "), strings.Join(drop, " "), strings.Join(baseEntrypoint, `", "`))
}

// lastLines keeps the last n lines written to it and calls onLine for each.
type lastLines struct {
	n      int
	onLine func(string)
	part   []byte
	lines  []string
}

func (l *lastLines) Write(p []byte) (int, error) {
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		line := string(l.part[:i])
		l.part = l.part[i+1:]
		l.lines = append(l.lines, line)
		if len(l.lines) > l.n {
			l.lines = l.lines[1:]
		}
		if l.onLine != nil {
			l.onLine(line)
		}
	}
	return len(p), nil
}

func (l *lastLines) String() string { return strings.Join(l.lines, "\n") }

var _ io.Writer = (*lastLines)(nil)
