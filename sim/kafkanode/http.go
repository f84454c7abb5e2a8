package kafkanode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"paysim/internal/controlapi"
)

// The control API a Kafka node serves (Handler) and Client calls:
//
//	GET  /healthz                      200 once the brokers are up
//	POST /brokers/{id}/remove          RemoveBroker
//	POST /brokers/{id}/add             AddBroker
//	POST /produce/refuse?on=true|false RefuseProduce
//	POST /leaders/shuffle              ShuffleLeaders
//	GET  /leaders                      Leaders, as {"0": 3, "1": 3, ...}
//
// Errors are a status and a one-line text/plain reason: 400 for a malformed
// request, 404 for a broker the cluster does not have, 500 otherwise.

// Handler serves ctl's control API.
func Handler(ctl Control) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	broker := func(fn func(ctx context.Context, id int32) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id, err := strconv.ParseInt(r.PathValue("id"), 10, 32)
			if err != nil {
				http.Error(w, fmt.Sprintf("broker id %q: not a number", r.PathValue("id")), http.StatusBadRequest)
				return
			}
			reply(w, fn(r.Context(), int32(id)))
		}
	}
	mux.HandleFunc("POST /brokers/{id}/remove", broker(ctl.RemoveBroker))
	mux.HandleFunc("POST /brokers/{id}/add", broker(ctl.AddBroker))
	mux.HandleFunc("POST /produce/refuse", func(w http.ResponseWriter, r *http.Request) {
		on, err := strconv.ParseBool(r.URL.Query().Get("on"))
		if err != nil {
			http.Error(w, fmt.Sprintf("on=%q: want true or false", r.URL.Query().Get("on")), http.StatusBadRequest)
			return
		}
		reply(w, ctl.RefuseProduce(r.Context(), on))
	})
	mux.HandleFunc("POST /leaders/shuffle", func(w http.ResponseWriter, r *http.Request) {
		reply(w, ctl.ShuffleLeaders(r.Context()))
	})
	mux.HandleFunc("GET /leaders", func(w http.ResponseWriter, r *http.Request) {
		leads, err := ctl.Leaders(r.Context())
		if err != nil {
			reply(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(leads)
	})
	return mux
}

func reply(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, ErrNoBroker):
		http.Error(w, err.Error(), http.StatusNotFound)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// Client is a Control over a Kafka node's control API.
type Client struct{ api *controlapi.Client }

var _ Control = (*Client)(nil)

// NewClient calls the control API at addr (host:port).
func NewClient(addr string) *Client { return &Client{api: controlapi.NewClient("kafka control", addr)} }

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	return c.api.Call(ctx, method, path, out, ErrNoBroker)
}

// Healthy says whether the node answers.
func (c *Client) Healthy(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil)
}

// RemoveBroker implements Control.
func (c *Client) RemoveBroker(ctx context.Context, id int32) error {
	return c.do(ctx, http.MethodPost, fmt.Sprintf("/brokers/%d/remove", id), nil)
}

// AddBroker implements Control.
func (c *Client) AddBroker(ctx context.Context, id int32) error {
	return c.do(ctx, http.MethodPost, fmt.Sprintf("/brokers/%d/add", id), nil)
}

// RefuseProduce implements Control.
func (c *Client) RefuseProduce(ctx context.Context, on bool) error {
	return c.do(ctx, http.MethodPost, "/produce/refuse?on="+strconv.FormatBool(on), nil)
}

// ShuffleLeaders implements Control.
func (c *Client) ShuffleLeaders(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/leaders/shuffle", nil)
}

// Leaders implements Control.
func (c *Client) Leaders(ctx context.Context) (map[int32]int, error) {
	var out map[int32]int
	if err := c.do(ctx, http.MethodGet, "/leaders", &out); err != nil {
		return nil, err
	}
	return out, nil
}
