package x402http

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/go402/go402/x402"
)

// candidate is a requirement a payment may pay, the facilitator request
// that pays it, and what the scheme's server read of it.
type candidate struct {
	req  x402.PaymentRequirements
	freq *x402.FacilitatorRequest
	pay  *x402.Payment // freq.Payment(), decoded once for the whole request
	srv  x402.SchemeServer
	id   x402.PaymentID
	opt  int // the index of the route's option it pays
}

// matchPayment decodes the payment header once and pairs it with the
// requirements it may pay: a v2 payment names the requirement it accepted,
// compared field by field; a v1 payment names its scheme and network, and
// its payload (read by the scheme's server) the recipient, amount and
// perhaps the asset, which leaves several candidates only when options
// differ in their asset alone; the facilitator tells them apart by the
// signature. The facilitator requests are built from the server's own
// requirements. The message is for the 402 when there is no candidate.
func (m *Middleware) matchPayment(method, header string, reqs []x402.PaymentRequirements, res *x402.ResourceInfo) ([]candidate, string) {
	dec, err := x402.DecodePayment(header)
	if err != nil {
		return nil, "invalid payment header: " + err.Error()
	}
	if dec.V2 != nil {
		for i := range reqs {
			if !requirementsEqual(&dec.V2.Accepted, &reqs[i]) {
				continue
			}
			c := candidate{req: reqs[i], opt: i}
			c.req.Extra = slices.Clone(c.req.Extra)
			// The payer does not sign the resource, and the facilitator
			// binds a settlement to the resource it is told: tell it this
			// server's, never the client's claim.
			payload := *dec.V2
			if res != nil {
				own := *res
				payload.Resource = &own
			}
			c.freq = x402.NewFacilitatorRequest(&payload, &c.req)
			if err := m.identify(&c); err != nil {
				return nil, invalidPayload(err)
			}
			return []candidate{c}, ""
		}
		return nil, "No matching payment requirements"
	}
	var cands []candidate
	var invalid error
	for i := range reqs {
		if reqs[i].Scheme != dec.V1.Scheme || reqs[i].Network != dec.V1.Network.Canonical() {
			continue
		}
		rv1, err := requirementsV1(method, &reqs[i], res)
		if err != nil {
			continue
		}
		c := candidate{req: reqs[i], freq: x402.NewFacilitatorRequestV1(dec.V1, &rv1), opt: i}
		c.req.Extra = slices.Clone(c.req.Extra)
		if err := m.identify(&c); err != nil {
			invalid = err
			continue
		}
		if c.id.Pays(&c.req) {
			cands = append(cands, c)
		}
	}
	switch {
	case len(cands) > 0:
		return cands, ""
	case invalid != nil:
		return nil, invalidPayload(invalid)
	}
	return nil, "Unable to find matching payment requirements"
}

// invalidPayload is the 402 message for a payload the scheme's server could
// not read: its reason code when it gives one, the verdict the facilitator
// would have given, else a description.
func invalidPayload(err error) string {
	var xe *x402.Error
	if errors.As(err, &xe) && xe.Reason != "" {
		return string(xe.Reason)
	}
	return "invalid payment payload: " + err.Error()
}

// identify has the scheme's server read the candidate's payment.
func (m *Middleware) identify(c *candidate) error {
	srv, _, err := m.cfg.Schemes.Lookup(x402.V2, c.req.Scheme, c.req.Network)
	if err != nil {
		return err
	}
	if c.pay, err = c.freq.Payment(); err != nil {
		return err
	}
	c.srv = srv
	c.id, err = srv.Identify(c.pay)
	return err
}

// requirementsV1 is the v1 form of req for a request with the given method.
// Its outputSchema is what the legacy x402-express middleware sends,
// {"input":{"type":"http","method":…,"discoverable":true}}: the legacy
// x402-fetch client validates outputSchema as an optional object and refuses
// a 402 body whose outputSchema is null.
func requirementsV1(method string, req *x402.PaymentRequirements, res *x402.ResourceInfo) (x402.PaymentRequirementsV1, error) {
	v1, err := x402.RequirementsV1(req, res)
	if err != nil {
		return v1, err
	}
	v1.OutputSchema, err = x402.NewObject(v1OutputSchema{Input: v1InputSchema{Type: "http", Method: v1Method(method), Discoverable: true}})
	return v1, err
}

// v1Method is the method a v1 outputSchema names for a request: upper case,
// and GET for HEAD, which pays as GET.
func v1Method(method string) string {
	method = strings.ToUpper(method)
	if method == http.MethodHead {
		return http.MethodGet
	}
	return method
}

// v1OutputSchema is the legacy middleware's outputSchema: how to call the
// resource (the pre-v2 discovery data).
type v1OutputSchema struct {
	Input v1InputSchema `json:"input"`
}

type v1InputSchema struct {
	Type         string `json:"type"`
	Method       string `json:"method"`
	Discoverable bool   `json:"discoverable"`
}

// requirementsEqual compares what a client accepted with what the server
// requires: every field, addresses case-insensitively, the amount exactly,
// extra as JSON.
func requirementsEqual(a, b *x402.PaymentRequirements) bool {
	return a.Scheme == b.Scheme &&
		a.Network == b.Network &&
		a.Amount == b.Amount &&
		strings.EqualFold(a.Asset, b.Asset) &&
		strings.EqualFold(a.PayTo, b.PayTo) &&
		a.MaxTimeoutSeconds == b.MaxTimeoutSeconds &&
		a.Extra.Equal(b.Extra)
}

// paymentRequired answers 402: the PAYMENT-REQUIRED header (v2), a v1 JSON
// body, or the paywall page for browsers, and, when a settlement failed,
// its response in PAYMENT-RESPONSE (or X-PAYMENT-RESPONSE for a v1
// payment).
func (m *Middleware) paymentRequired(w http.ResponseWriter, r *http.Request, ans *staticAnswer, res *x402.ResourceInfo, msg string, settle *x402.SettleResponse, version int) {
	m.countPaymentRequired(r)
	h := w.Header()
	if enc, err := ans.header(msg, res.URL); err == nil {
		h.Set(x402.HeaderPaymentRequired, enc)
	} else {
		m.log.Error("PAYMENT-REQUIRED would be too large; sent without it", "err", err)
	}
	if settle != nil {
		if err := setSettlementHeader(h, version, settle); err != nil {
			m.log.Error("encoding the settlement response", "err", err)
		}
	}
	h.Set("Cache-Control", "no-store")
	if strings.Contains(r.Header.Get("Accept"), "text/html") && r.Header.Get(x402.HeaderPaymentSignature) == "" && r.Header.Get(x402.HeaderXPayment) == "" {
		m.paywall(w, r, &x402.PaymentRequired{X402Version: x402.V2, Error: msg, Resource: *res, Accepts: slices.Clone(ans.reqs), Extensions: ans.extensions})
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusPaymentRequired)
	_, _ = w.Write(ans.body(msg, res.URL, r.Method))
}
