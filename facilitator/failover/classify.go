package failover

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"

	"github.com/go402/go402/facilitator/remote"
)

// Failure is the kind of a member's failure to give a verdict.
type Failure int

const (
	// Unreachable: the request never reached the facilitator (the
	// connection could not be established: dial error, DNS failure, TLS
	// handshake failure).
	Unreachable Failure = iota + 1
	// NoAnswer: the request may have reached the facilitator but no answer
	// came back (a timeout, a connection cut, or an in-process
	// facilitator's error).
	NoAnswer
	// Answered: the facilitator answered, but not with a verdict (an HTTP
	// error status, a malformed or oversized body).
	Answered
)

// String names the kind for logs.
func (f Failure) String() string {
	switch f {
	case Unreachable:
		return "unreachable"
	case NoAnswer:
		return "no_answer"
	case Answered:
		return "answered_error"
	}
	return fmt.Sprintf("failure(%d)", int(f))
}

// Classify tells what kind of failure err, returned by a member's Verify,
// Settle or Supported, is. Only [Unreachable] proves that a settle request
// did not reach the facilitator.
func Classify(err error) Failure {
	var (
		dnsErr  *net.DNSError
		opErr   *net.OpError
		certErr *tls.CertificateVerificationError
		recErr  tls.RecordHeaderError
		authErr x509.UnknownAuthorityError
		hostErr x509.HostnameError
		httpErr *remote.HTTPError
	)
	switch {
	case errors.As(err, &dnsErr), errors.As(err, &opErr) && opErr.Op == "dial":
		return Unreachable
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &authErr),
		errors.As(err, &hostErr):
		// The handshake failed: no request was written.
		return Unreachable
	case errors.As(err, &httpErr), errors.Is(err, remote.ErrMalformedResponse), errors.Is(err, remote.ErrResponseTooLarge):
		return Answered
	}
	return NoAnswer
}

// refused reports whether err is the facilitator refusing this request (a
// 4xx status other than 408 and 429): a problem of the request, which the
// next facilitator would refuse too, not of the facilitator's health. A
// payer sending hostile payloads must not make the members back off.
func refused(err error) bool {
	var h *remote.HTTPError
	return errors.As(err, &h) && h.StatusCode >= 400 && h.StatusCode < 500 &&
		h.StatusCode != 408 && h.StatusCode != 429
}

// UnknownOutcomeError is returned by [Facilitator.Settle] when a settle
// request may have reached a member but no verdict came back: the payment
// may be settled. It wraps remote.ErrSettleOutcomeUnknown and the member's
// error. The payment is held by that member (see the package
// documentation).
type UnknownOutcomeError struct {
	// Facilitator names the member that holds the payment.
	Facilitator string
	// Err is the member's error.
	Err error
}

// Error implements error.
func (e *UnknownOutcomeError) Error() string {
	return fmt.Sprintf("facilitator/failover: settle at %s: outcome unknown: %v", e.Facilitator, e.Err)
}

// Unwrap returns remote.ErrSettleOutcomeUnknown and the member's error.
func (e *UnknownOutcomeError) Unwrap() []error { return []error{remote.ErrSettleOutcomeUnknown, e.Err} }

// ErrNoFacilitator is wrapped by the error of a call that no member could
// answer: none supports the payment, or none was reachable (for settle:
// none was provably unreached but the last).
var ErrNoFacilitator = errors.New("facilitator/failover: no facilitator available")
