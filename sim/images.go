package sim

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/distribution/reference"
)

// Images overrides the container image of services in containers mode: a
// service not named runs paysim's own image (the Debian base for MySQL and
// Redis, the node image for Kafka, search and the app). An override must be
// on the engine already (paysim never pulls) and provide the programs its
// service runs (checked by containers mode before it starts). Embedded mode runs no containers and ignores
// it.
type Images map[Service]string

// ImageServices are the services whose image can be overridden: Redis's
// covers its Sentinels too.
func ImageServices() []Service {
	return []Service{ServiceMySQL, ServiceRedis, ServiceKafka, ServiceSearch, ServiceApp}
}

// ParseImage parses one SERVICE=REF override.
func ParseImage(s string) (Service, string, error) {
	svc, ref, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("%q: want SERVICE=IMAGE, e.g. mysql=mariadb:10.11", s)
	}
	im := Images{Service(strings.TrimSpace(svc)): strings.TrimSpace(ref)}
	if err := im.Validate(); err != nil {
		return "", "", err
	}
	return Service(strings.TrimSpace(svc)), strings.TrimSpace(ref), nil
}

// Validate rejects an unknown service and a reference Docker would not
// accept.
func (im Images) Validate() error {
	for _, svc := range slices.Sorted(maps.Keys(im)) {
		if !slices.Contains(ImageServices(), svc) {
			return fmt.Errorf("image for %q: unknown service (want one of %s)", svc, serviceList(ImageServices()))
		}
		ref := im[svc]
		if ref == "" {
			return fmt.Errorf("image for %s: empty", svc)
		}
		if _, err := reference.ParseNormalizedNamed(ref); err != nil {
			return fmt.Errorf("image for %s: %q: %w", svc, ref, err)
		}
	}
	return nil
}

// With returns the overrides of im with over's on top; neither changes.
func (im Images) With(over Images) Images {
	if len(im) == 0 && len(over) == 0 {
		return nil
	}
	out := maps.Clone(im)
	if out == nil {
		out = Images{}
	}
	maps.Copy(out, over)
	return out
}

func serviceList(ss []Service) string {
	var out []string
	for _, s := range ss {
		out = append(out, string(s))
	}
	return strings.Join(out, ", ")
}
