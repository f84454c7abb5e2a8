// Package controlapi serves and calls the control API of one of paysim's
// own node processes (a Kafka or search node in its container).
package controlapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Serve serves h on addr until ctx ends (nil then) or the server fails.
func Serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	case err := <-done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// Client calls a control API.
type Client struct {
	name string // for errors, e.g. "kafka control"
	base string
	hc   *http.Client
}

// NewClient calls the control API at addr (host:port); name prefixes its
// errors.
func NewClient(name, addr string) *Client {
	return &Client{name: name, base: "http://" + addr, hc: &http.Client{Timeout: 10 * time.Second}}
}

// Call sends a bodiless request and decodes a JSON reply into out unless
// out is nil. A status of 300 or more is an error wrapping notFound when
// it is 404 (a node the process does not have).
func (c *Client) Call(ctx context.Context, method, path string, out any, notFound error) error {
	return c.Send(ctx, method, path, nil, out, notFound)
}

// Send is Call with in, unless nil, sent as the JSON body.
func (c *Client) Send(ctx context.Context, method, path string, in, out any, notFound error) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s: %s %s: %w", c.name, method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		err := fmt.Errorf("%s: %s %s: %s: %s", c.name, method, path, resp.Status, strings.TrimSpace(string(b)))
		if resp.StatusCode == http.StatusNotFound && notFound != nil {
			err = fmt.Errorf("%w (%w)", notFound, err)
		}
		return err
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("%s: %s %s: %w", c.name, method, path, err)
		}
	}
	return nil
}

// Base is the API's base URL, e.g. http://127.0.0.1:8090.
func (c *Client) Base() string { return c.base }
