// Command llm-stream is an LLM-style API priced per token with x402's
// metered "upto" scheme: GET /v1/completions streams its answer as
// server-sent events, one token an event; a payment authorizes at most
// $0.01, each token delivered costs $0.0001, and once the stream ends the
// payment settles what was streamed, never more than the maximum, and
// nothing for an empty answer. Run `go402 dev` first (it prints the path
// of its info file), then:
//
//	go run ./examples/llm-stream -devnet-info /tmp/go402-dev-….json -pay-to 0xYourAddress
//	go402 pay --devnet-info /tmp/go402-dev-….json 'http://127.0.0.1:8080/v1/completions?prompt=hello&max_tokens=20'
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/upto"
	"github.com/go402/go402/examples/internal/devinfo"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// Prices: the most one answer may cost, and the price of one token.
const (
	maxPrice   = "$0.01"
	tokenPrice = "$0.0001"
)

func main() {
	api, err := newAPI(context.Background(), os.Args[1:])
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on http://127.0.0.1:8080 (GET /v1/completions: %s a token, at most %s)", tokenPrice, maxPrice)
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", api))
}

// newAPI returns the API with /v1/completions behind the metered paywall,
// as the command line args configure it.
func newAPI(ctx context.Context, args []string) (http.Handler, error) {
	flags := flag.NewFlagSet("llm-stream", flag.ContinueOnError)
	facURL := flags.String("facilitator", "http://127.0.0.1:4022", "facilitator URL")
	network := flags.String("network", "eip155:84532", "CAIP-2 network to be paid on")
	payTo := flags.String("pay-to", "", "address that receives the payments")
	info := flags.String("devnet-info", "", "info file of `go402 dev` (sets facilitator and network)")
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	nets := evm.DefaultNetworks()
	if *info != "" {
		d, err := devinfo.Load(*info, nets)
		if err != nil {
			return nil, err
		}
		*facURL, *network = d.FacilitatorURL, d.Network
	}
	fac, err := remote.New(remote.Config{URL: *facURL})
	if err != nil {
		return nil, err
	}
	// upto payers name the facilitator that may settle: read its address
	// from its /supported.
	schemes := evm.ServerSchemes(nets)
	settler, err := upto.FacilitatorAddress(ctx, fac, x402.Network(*network))
	if err != nil {
		return nil, err
	}
	if err := upto.RegisterServer(schemes, &upto.Server{Networks: nets, Facilitators: map[x402.Network]common.Address{x402.Network(*network): settler}}); err != nil {
		return nil, err
	}
	paywall, err := x402http.New(x402http.Config{
		Facilitator: fac,
		Schemes:     schemes,
		Routes: []x402http.Route{{
			Pattern:     "GET /v1/completions",
			Accepts:     []x402http.PaymentOption{{Scheme: upto.Scheme, Network: x402.Network(*network), Price: maxPrice, PayTo: *payTo}},
			UnitPrice:   tokenPrice,
			Description: "Text completion, streamed, " + tokenPrice + " a token",
			MimeType:    "text/event-stream",
		}},
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/completions", complete)
	return paywall.Handler(mux), nil
}

// event is one server-sent event of the stream.
type event struct {
	Token        string `json:"token,omitempty"`
	FinishReason string `json:"finish_reason,omitempty"`
}

// complete streams the completion of ?prompt, at most ?max_tokens tokens
// (default 16), charging each token once it was flushed to the client: a
// client that leaves mid-stream pays for what it was sent. It stops when
// the payment cannot pay for another token.
func complete(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("max_tokens"))
	if err != nil || n <= 0 {
		n = 16
	}
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	send := func(e event) error {
		b, _ := json.Marshal(e)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return err
		}
		return rc.Flush()
	}
	finish := "stop"
	for _, tok := range generate(r.URL.Query().Get("prompt"), n) {
		if r.Context().Err() != nil {
			return // the client is gone: it pays for the tokens it was sent
		}
		if u, ok := x402http.UsageFromContext(r.Context()); ok && u.Remaining().Cmp(u.Unit) < 0 {
			finish = "length" // the payment's maximum is reached
			break
		}
		if send(event{Token: tok}) != nil {
			return // the client is gone: it pays for the tokens it was sent
		}
		if err := x402http.Use(r, 1); err != nil && !errors.Is(err, x402http.ErrNotMetered) {
			log.Printf("metering: %v", err)
		}
	}
	_ = send(event{FinishReason: finish})
	_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
}

// generate stands in for a model: it echoes the prompt's words, then
// counts, up to n tokens.
func generate(prompt string, n int) []string {
	words := strings.Fields(prompt)
	out := make([]string, 0, n)
	for i := 0; len(out) < n; i++ {
		if i < len(words) {
			out = append(out, words[i]+" ")
		} else {
			out = append(out, strconv.Itoa(i)+" ")
		}
	}
	return out
}
