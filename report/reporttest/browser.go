package reporttest

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Page is a page as headless Chromium loaded and drew it.
type Page struct {
	// Requests are the URLs the page asked for besides itself: anything
	// here is a network request a self-contained report must not make.
	Requests []string
	// Screenshot is the whole page as Chromium painted it (PNG).
	Screenshot []byte
	ctx        context.Context
}

// Browse opens the HTML file at path in headless Chromium (Debian's
// chromium) and keeps the browser until the test ends; it skips the test,
// saying why, where Chromium is missing (.ci/run installs it). The browser
// sends anything it asks for to a closed loopback port and resolves no
// name, so neither the page nor the browser's own background work can
// reach beyond the machine.
func Browse(t testing.TB, path string) *Page {
	t.Helper()
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("chromium is missing (apt-get install chromium): the browser check cannot run")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	self := (&url.URL{Scheme: "file", Path: abs}).String()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // root in CI
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
		chromedp.ProxyServer("127.0.0.1:9"),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND"),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-pings", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	p := &Page{}
	var mu sync.Mutex
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Request.URL != self {
			mu.Lock()
			p.Requests = append(p.Requests, e.Request.URL)
			mu.Unlock()
		}
	}))
	t.Cleanup(cancel)
	p.ctx = ctx
	if err := chromedp.Do(ctx, chromedp.Navigate(self)); err != nil {
		t.Fatalf("chromium: open %s: %v", self, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("chromium: screenshot: %v", err)
	}
	p.Screenshot = shot
	mu.Lock()
	p.Requests = append([]string(nil), p.Requests...)
	mu.Unlock()
	return p
}

// Eval evaluates a JavaScript expression in the page and decodes its
// result into T.
func Eval[T any](t testing.TB, p *Page, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("chromium: %s: %v", expr, err)
	}
	return v
}

// Pixels counts the screenshot's pixels of exactly colour c inside the
// rectangle r (CSS pixels of the page, as getBoundingClientRect gives).
func (p *Page) Pixels(t testing.TB, c color.Color, r image.Rectangle) int {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(p.Screenshot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	want := color.RGBAModel.Convert(c).(color.RGBA)
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == want {
				n++
			}
		}
	}
	return n
}
