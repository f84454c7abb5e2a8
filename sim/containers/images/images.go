// Package images builds, without a registry, the images containers mode
// runs, and lists them.
//
// Three kinds, each tagged with a hash of its inputs so that a build only
// does work when an input changed:
//
//   - base: Debian bookworm with MariaDB 10.11, Redis 7 and Sentinel,
//     iproute2, iptables and tini; made by debootstrap and imported as one
//     layer (no registry needed), or, where debootstrap cannot run but a
//     registry answers, built FROM debian:bookworm-slim with the same
//     packages. Its inputs are the recipe (suite, variant, packages, what is
//     dropped), not the mirror: any Debian mirror gives the same image.
//   - node: paysim's own binary, built static (CGO_ENABLED=0), alone in a
//     FROM-scratch image; later it runs app instances, the Kafka node (kfake)
//     and the search node. Its input is the binary's hash.
//   - toxiproxy: the toxiproxy server (github.com/Shopify/toxiproxy/v2/
//     cmd/server, the version paysim's go.mod pins), static, FROM scratch, for
//     latency in the path (the kernel here has no netem). Its input is the
//     binary's hash.
//
// Every image carries the labels LabelKind, LabelInputs and LabelBuilder.
package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"paysim/sim/containers/engine"
)

// Kind is one of the images paysim builds.
type Kind string

// The kinds, in build order.
//
// What an image of each kind must contain (for a replacement image, e.g. the
// official mariadb:10.11 or redis:7.0 per service, in a later slice):
//
//   - KindBase, as the MySQL service's image: sh, mariadbd,
//     mariadb-install-db, a mysql user; /var/lib/mysql and /run/mysqld
//     writable by it. As the Redis service's image: sh, redis-server,
//     redis-sentinel, redis-cli. For network faults on its nodes (later):
//     ip, tc and iptables. Containers run with the engine's init (tini) as
//     PID 1, so no init is required of the image; the base has
//     /usr/bin/tini as its entrypoint for standalone use.
//   - KindNode: a static paysim binary at /paysim (the entrypoint) and a
//     writable /tmp. Nothing else: no shell, no libc.
//   - KindToxiproxy: a static toxiproxy server at /toxiproxy (the
//     entrypoint), listening on its API port 8474 when started with
//     -host 0.0.0.0.
const (
	KindBase      Kind = "base"
	KindNode      Kind = "node"
	KindToxiproxy Kind = "toxiproxy"
)

// Kinds lists every kind in build order.
func Kinds() []Kind { return []Kind{KindBase, KindNode, KindToxiproxy} }

// ParseKind accepts a kind's name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown image %q (want base, node or toxiproxy)", s)
}

// Repository is the image name of a kind, e.g. "paysim-base". The names
// have no registry host: paysim never pulls them (a missing image is an
// error that says to run `paysim images build`).
func (k Kind) Repository() string { return "paysim-" + string(k) }

// Image labels.
const (
	LabelKind    = "paysim.image"         // the kind
	LabelInputs  = "paysim.image.inputs"  // the full hash of the inputs
	LabelBuilder = "paysim.image.builder" // debootstrap, dockerfile or scratch
)

// tagLen is how many hex digits of the inputs' hash the tag keeps.
const tagLen = 12

// Inputs is everything that goes into an image; an image is rebuilt exactly
// when its Inputs' hash changes.
type Inputs struct {
	Kind Kind
	// Lines are the inputs as "name=value" lines; their order does not
	// matter (they are sorted before hashing).
	Lines []string
}

// Hash is the hex SHA-256 of the kind and the sorted lines.
func (in Inputs) Hash() string {
	lines := append([]string(nil), in.Lines...)
	sort.Strings(lines)
	h := sha256.New()
	fmt.Fprintf(h, "kind=%s\n", in.Kind)
	for _, l := range lines {
		fmt.Fprintf(h, "%s\n", l)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Ref is the image reference these inputs build: REPOSITORY:TAG, the tag
// being the hash's first 12 hex digits.
func (in Inputs) Ref() string { return in.Kind.Repository() + ":" + in.Hash()[:tagLen] }

// Image is a built paysim image.
type Image struct {
	Ref     string    `json:"ref"`
	Kind    Kind      `json:"kind"`
	Builder string    `json:"builder"`
	Inputs  string    `json:"inputs"`
	ID      string    `json:"id"`
	Size    int64     `json:"size_bytes"`
	Created time.Time `json:"created"`
}

// List returns every paysim image on the engine, by kind, newest first.
func List(ctx context.Context, eng *engine.Engine) ([]Image, error) {
	res, err := eng.Client().ImageList(ctx, client.ImageListOptions{
		Filters: make(client.Filters).Add("label", LabelKind),
	})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var out []Image
	for _, s := range res.Items {
		kind := Kind(s.Labels[LabelKind])
		for _, ref := range s.RepoTags {
			if !strings.HasPrefix(ref, kind.Repository()+":") {
				continue
			}
			out = append(out, Image{
				Ref: ref, Kind: kind, Builder: s.Labels[LabelBuilder], Inputs: s.Labels[LabelInputs],
				ID: s.ID, Size: s.Size, Created: time.Unix(s.Created, 0),
			})
		}
	}
	order := map[Kind]int{}
	for i, k := range Kinds() {
		order[k] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return order[out[i].Kind] < order[out[j].Kind]
		}
		return out[i].Created.After(out[j].Created)
	})
	return out, nil
}

// Present reports whether ref is on the engine.
func Present(ctx context.Context, eng *engine.Engine, ref string) (bool, error) {
	_, err := eng.Client().ImageInspect(ctx, ref)
	if err == nil {
		return true, nil
	}
	if notFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("inspect %s: %w", ref, err)
}

// notFound reports whether an inspect failed because the image is absent.
func notFound(err error) bool {
	return strings.Contains(err.Error(), "No such image") || strings.Contains(err.Error(), "not found")
}

// KindOf is the kind of paysim image ref is by its labels, empty for an
// image paysim did not build. An image that is not on the engine is an
// error wrapping ErrMissing: paysim never pulls one.
func KindOf(ctx context.Context, eng *engine.Engine, ref string) (Kind, error) {
	in, err := eng.Client().ImageInspect(ctx, ref)
	if err != nil {
		if notFound(err) {
			return "", fmt.Errorf("%w: %s is not on the engine, and paysim never pulls: docker pull or docker load it first", ErrMissing, ref)
		}
		return "", fmt.Errorf("inspect %s: %w", ref, err)
	}
	if in.Config == nil {
		return "", nil
	}
	return Kind(in.Config.Labels[LabelKind]), nil
}

// ErrMissing marks an image that is not built yet.
var ErrMissing = errors.New("image not built")

// Require fails with ErrMissing, naming the command that builds it, when
// ref is not on the engine. Callers check before starting a container, so
// that the engine never tries to pull a paysim image from a registry.
func Require(ctx context.Context, eng *engine.Engine, ref string) error {
	ok, err := Present(ctx, eng, ref)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s is missing; run `paysim images build` (go run ./cmd/paysim images build)", ErrMissing, ref)
	}
	return nil
}

// Options tunes Build.
type Options struct {
	// Kinds to build; empty means all.
	Kinds []Kind
	// Builder of the base image: BuilderAuto (default), BuilderDebootstrap
	// or BuilderDockerfile.
	Builder string
	// Mirror is the Debian mirror for debootstrap; empty means the one apt
	// uses here (Mirror(AptDir, suite)).
	Mirror string
	// AptDir holds apt's sources; empty means /etc/apt.
	AptDir string
	// ModuleDir is paysim's source tree, where the static binaries are built
	// (go build); empty means the module enclosing the working directory.
	ModuleDir string
	// Self is a static paysim binary to package as the node image when there
	// is no source tree; empty means none.
	Self string
	// WorkDir holds the temporary root file system and build contexts;
	// empty means the system's temporary directory.
	WorkDir string
	// Force rebuilds images that are present.
	Force bool
	// Progress is told about each image; nil reports nothing.
	Progress Progress
}

// Result is what Build did for one image.
type Result struct {
	Image Image
	// Built is false when the image was present with the same inputs.
	Built bool
	// How says which path built it, and why (e.g. why not debootstrap).
	How  string
	Took time.Duration
}

// Build makes every image of opt.Kinds that is missing (or all with Force)
// and returns what it did, in build order. A cancelled ctx stops it; the
// temporary root file system and contexts are removed on every path.
func Build(ctx context.Context, eng *engine.Engine, opt Options) ([]Result, error) {
	kinds := opt.Kinds
	if len(kinds) == 0 {
		kinds = Kinds()
	}
	prog := opt.Progress
	if prog == nil {
		prog = nopProgress{}
	}
	var out []Result
	for _, k := range Kinds() {
		if !contains(kinds, k) {
			continue
		}
		step := prog.Step(string(k))
		start := time.Now()
		var r Result
		var err error
		switch k {
		case KindBase:
			r, err = buildBase(ctx, eng, opt, step)
		case KindNode, KindToxiproxy:
			r, err = buildStatic(ctx, eng, opt, k, step)
		}
		r.Took = time.Since(start)
		if err != nil {
			err = fmt.Errorf("%s image: %w", k, err)
			step.Done("", err)
			return out, err
		}
		if r.Built {
			step.Done(fmt.Sprintf("%s built in %v (%s, %s)", r.Image.Ref, r.Took.Round(time.Second), HumanSize(r.Image.Size), r.How), nil)
		} else {
			step.Done(fmt.Sprintf("%s up to date (%s)", r.Image.Ref, HumanSize(r.Image.Size)), nil)
		}
		out = append(out, r)
	}
	return out, nil
}

// existing returns the image ref as a Result when it is present and Force
// is off.
func existing(ctx context.Context, eng *engine.Engine, opt Options, kind Kind, ref string) (Result, bool, error) {
	if opt.Force {
		return Result{}, false, nil
	}
	in, err := eng.Client().ImageInspect(ctx, ref)
	if err != nil {
		if notFound(err) {
			return Result{}, false, nil
		}
		return Result{}, false, fmt.Errorf("inspect %s: %w", ref, err)
	}
	img := Image{Ref: ref, Kind: kind, ID: in.ID, Size: in.Size}
	if in.Config != nil {
		img.Builder = in.Config.Labels[LabelBuilder]
		img.Inputs = in.Config.Labels[LabelInputs]
	}
	if t, err := time.Parse(time.RFC3339Nano, in.Created); err == nil {
		img.Created = t
	}
	return Result{Image: img, How: "present"}, true, nil
}

// inspect fills an Image from the engine after a build.
func inspect(ctx context.Context, eng *engine.Engine, kind Kind, ref, builder, inputs string) (Image, error) {
	in, err := eng.Client().ImageInspect(ctx, ref)
	if err != nil {
		return Image{}, fmt.Errorf("inspect %s: %w", ref, err)
	}
	img := Image{Ref: ref, Kind: kind, Builder: builder, Inputs: inputs, ID: in.ID, Size: in.Size}
	if t, err := time.Parse(time.RFC3339Nano, in.Created); err == nil {
		img.Created = t
	}
	return img, nil
}

func labels(kind Kind, inputs, builder string) map[string]string {
	return map[string]string{LabelKind: string(kind), LabelInputs: inputs, LabelBuilder: builder}
}

func contains(ks []Kind, k Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// HumanSize formats a byte count as MB with one decimal.
func HumanSize(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func tempDir(opt Options, pattern string) (string, error) {
	dir := opt.WorkDir
	if dir == "" {
		dir = os.TempDir()
	}
	d, err := os.MkdirTemp(dir, pattern)
	if err != nil {
		return "", fmt.Errorf("work dir: %w", err)
	}
	return d, nil
}

func sortStrings(s []string) { sort.Strings(s) }

// Pruned is what Prune did with one image.
type Pruned struct {
	Image
	// Err is why it stays (e.g. a container of a run uses it); nil if it
	// was removed.
	Err error
}

// Prune removes the paysim images that are not among the keep newest of
// their kind, nor the current base image (BaseRef). Every change to
// paysim's code makes a new node image, so the old ones pile up (~68 MB
// each). An image a container still uses stays, its Pruned.Err saying why.
func Prune(ctx context.Context, eng *engine.Engine, keep int) ([]Pruned, error) {
	list, err := List(ctx, eng)
	if err != nil {
		return nil, err
	}
	var out []Pruned
	for _, im := range stale(list, keep, BaseRef()) {
		_, err := eng.Client().ImageRemove(ctx, im.Ref, client.ImageRemoveOptions{PruneChildren: true})
		if err != nil {
			err = fmt.Errorf("remove %s: %w", im.Ref, err)
		}
		out = append(out, Pruned{Image: im, Err: err})
	}
	return out, nil
}

// stale is what Prune removes of list (as List orders it: by kind, newest
// first): all but the keep newest of each kind, never base.
func stale(list []Image, keep int, base string) []Image {
	var out []Image
	seen := map[Kind]int{}
	for _, im := range list {
		seen[im.Kind]++
		if seen[im.Kind] > keep && im.Ref != base {
			out = append(out, im)
		}
	}
	return out
}
