package x402mcp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/go402/go402/x402"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A tool whose Extensions declare the payment-identifier extension
// (x402.DeclarePaymentIdentifier) answers a call carrying an id once: the
// same payment sent again under its id (the client lost the result) gets
// the first result back, receipt included, without running the tool or
// settling again; another payment under the id, or an id sent again while
// its first call runs, is refused. Results are kept in memory, per Server,
// as long as the payment's claim.

// results holds the first result of each payment identifier.
type results struct {
	mu sync.Mutex
	m  map[string]*result
}

type result struct {
	fp    string
	until time.Time
	res   *mcp.CallToolResult // nil while the first call runs
}

// idemBegin looks up the payment identifier of pp for tool t. It returns
// the key to finish when the call goes on, or the answer to give instead:
// the stored result, or a refusal.
func (s *Server) idemBegin(t *paidTool, pp *x402.PaymentPayload, off *offer) (string, *mcp.CallToolResult, error) {
	decl, err := x402.ParsePaymentIdentifier(t.Extensions)
	if err != nil || !decl.Declared {
		return "", nil, nil
	}
	p, err := x402.ParsePaymentIdentifier(pp.Extensions)
	switch {
	case err != nil:
		res, err := requiredResult(off, string(x402.ReasonInvalidPaymentID), nil)
		return "", res, err
	case p.ID == "" && decl.Required:
		res, err := requiredResult(off, string(x402.ReasonPaymentIDRequired), nil)
		return "", res, err
	case p.ID == "":
		return "", nil, nil
	}
	b, err := json.Marshal(pp)
	if err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(b)
	key, fp := t.name+" "+p.ID, hex.EncodeToString(sum[:])
	now := s.cfg.Now()
	timeout := t.MaxTimeoutSeconds
	if timeout <= 0 {
		timeout = DefaultMaxTimeoutSeconds
	}
	s.results.mu.Lock()
	defer s.results.mu.Unlock()
	if s.results.m == nil {
		s.results.m = map[string]*result{}
	}
	if r, ok := s.results.m[key]; ok && now.Before(r.until) {
		reason := x402.ReasonPaymentIDConflict
		switch {
		case r.fp == fp && r.res != nil:
			cp := *r.res
			return "", &cp, nil
		case r.fp == fp:
			reason = x402.ReasonPaymentIDInProgress
		}
		res, err := requiredResult(off, string(reason), nil)
		return "", res, err
	}
	for k, r := range s.results.m { // few entries: one per paid call
		if !now.Before(r.until) {
			delete(s.results.m, k)
		}
	}
	s.results.m[key] = &result{fp: fp, until: now.Add(time.Duration(timeout)*time.Second + claimSlack)}
	return key, nil, nil
}

// idemFinish keeps res as the result of key, or forgets key when res is
// nil (the payment was not used, or the call is not finished).
func (s *Server) idemFinish(key string, res *mcp.CallToolResult) {
	s.results.mu.Lock()
	defer s.results.mu.Unlock()
	if res == nil {
		delete(s.results.m, key)
		return
	}
	if r, ok := s.results.m[key]; ok {
		cp := *res
		r.res = &cp
	}
}
