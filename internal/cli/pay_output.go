package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go402/go402/client"
	"github.com/go402/go402/x402"
)

// Exit codes of go402 pay, beyond ExitOK, ExitError and ExitUsage.
const (
	ExitPolicy   = 3 // refused by the payment policy
	ExitRejected = 4 // payment rejected by the server or its facilitator
	ExitHTTP     = 5 // HTTP error status, network error or timeout
	ExitUnknown  = 6 // the payment may have been charged; no answer says so
)

// maxJSONBody bounds the response body embedded in --json output.
const maxJSONBody = 32 << 20

// payResult is what go402 pay reports; it is the --json output.
type payResult struct {
	URL         string `json:"url"`
	Status      int    `json:"status"`
	Paid        bool   `json:"paid"`
	Price       string `json:"price"`
	Asset       string `json:"asset"`
	Network     string `json:"network"`
	PayTo       string `json:"payTo"`
	Payer       string `json:"payer"`
	Transaction string `json:"transaction"`
	// Charged is what the server charged when its settlement reports an
	// amount other than the price: a metered ("upto") payment, whose
	// price is the maximum.
	Charged    string      `json:"charged,omitempty"`
	Success    bool        `json:"success"`
	ExitCode   int         `json:"exitCode"`
	Error      string      `json:"error"`
	Reason     string      `json:"reason"`
	Body       *string     `json:"body,omitempty"`
	BodyBase64 *string     `json:"bodyBase64,omitempty"`
	Headers    http.Header `json:"headers,omitempty"`
	DryRun     bool        `json:"dryRun,omitempty"`
	Allowed    *bool       `json:"allowed,omitempty"`
	// OutcomeUnknown: the payment may have been charged (exit 6).
	OutcomeUnknown bool `json:"outcomeUnknown,omitempty"`
	// MaySettleUntil is when a payment whose outcome is unknown stops
	// being usable (RFC 3339), if known.
	MaySettleUntil string `json:"maySettleUntil,omitempty"`

	// pending says why a payment is not known to be settled yet ("" when
	// it is): broadcast but unconfirmed, or not reported by the server.
	pending string
}

// fillOption records the payment option chosen.
func fillOption(res *payResult, opt *client.Option) {
	res.Price = opt.Price
	res.Asset = opt.Requirements.Asset
	res.Network = string(opt.Requirements.Network)
	res.PayTo = opt.Requirements.PayTo
}

// fillReceipt records what a response says was paid.
func fillReceipt(res *payResult, r *client.Receipt, status int) {
	fillOption(res, &r.Option)
	if r.Payer != "" {
		res.Payer = r.Payer
	}
	s := r.Settlement
	switch {
	case s != nil && s.Success:
		res.Paid = true
	case s != nil && s.ErrorReason == x402.ReasonSettlementPending:
		res.Paid, res.pending = true, "settlement pending"
	case s == nil && status >= 200 && status <= 399:
		res.Paid, res.pending = true, "settlement not reported by the server"
	}
	if s != nil {
		res.Transaction = s.Transaction
		if s.Payer != "" {
			res.Payer = s.Payer
		}
		if !s.Success {
			res.Reason = string(s.ErrorReason)
		}
		if s.Success && s.Amount != nil && *s.Amount != r.Option.Requirements.Amount {
			res.Charged = strings.TrimSpace(s.Amount.Format(r.Option.Asset.Decimals) + " " + r.Option.Asset.Symbol)
		}
	}
}

// writeHead prints the status line and the headers, as curl -i does.
func writeHead(w io.Writer, resp *http.Response) {
	fmt.Fprintf(w, "%s %s\r\n", resp.Proto, resp.Status)
	_ = resp.Header.Write(w)
	fmt.Fprint(w, "\r\n")
}

// writeBody copies the body to -o, standard output, or res for --json.
func writeBody(e env, o *payOptions, body io.Reader, res *payResult) (err error) {
	switch {
	case o.output != "":
		f, err := os.Create(o.output)
		if err != nil {
			return fmt.Errorf("creating the output file: %w", err)
		}
		if _, err := io.Copy(f, body); err != nil {
			f.Close()
			return bodyReadError(fmt.Errorf("writing %s: %w", o.output, err))
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("writing %s: %w", o.output, err)
		}
		return nil
	case o.json:
		b, err := io.ReadAll(io.LimitReader(body, maxJSONBody+1))
		if err != nil {
			return bodyReadError(fmt.Errorf("reading the response body: %w", err))
		}
		if len(b) > maxJSONBody {
			return fmt.Errorf("the response body is larger than %d MiB: use -o FILE", maxJSONBody>>20)
		}
		s := string(b)
		if utf8.ValidString(s) {
			res.Body = &s
		} else {
			enc := base64.StdEncoding.EncodeToString(b)
			res.BodyBase64 = &enc
		}
		return nil
	default:
		if _, err := io.Copy(e.stdout, body); err != nil {
			return bodyReadError(fmt.Errorf("copying the response body: %w", err))
		}
		return nil
	}
}

// bodyReadError marks a failure while the body streams in as a network
// error when it is one.
func bodyReadError(err error) error {
	if isNetworkError(err) {
		return &exitCodeError{code: ExitHTTP, err: err}
	}
	return err
}

// isNetworkError reports whether err is a transport failure: connection,
// DNS, TLS, a response cut short, or the timeout.
func isNetworkError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, context.DeadlineExceeded)
}

// payExitCode maps an error of pay to an exit code.
func payExitCode(err error) int {
	var (
		ue *usageError
		pe *client.PolicyError
		ce *exitCodeError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &pe):
		return ExitPolicy
	case errors.Is(err, client.ErrPaymentOutcomeUnknown):
		return ExitUnknown
	case errors.Is(err, client.ErrPaymentRejected):
		return ExitRejected
	case errors.As(err, &ce):
		return ce.code
	case isNetworkError(err):
		return ExitHTTP
	}
	return ExitError
}

// finishPay reports the outcome: the paid line on standard error, the
// JSON object with --json, and the error with its exit code.
func finishPay(e env, o *payOptions, res *payResult, err error) error {
	code := payExitCode(err)
	res.ExitCode, res.Success = code, code == ExitOK
	if err != nil {
		res.Error = err.Error()
	}
	fillPolicyRefusal(res, err)
	fillOutcomeUnknown(res, err)
	if res.OutcomeUnknown {
		until := "it expires"
		if res.MaySettleUntil != "" {
			until = res.MaySettleUntil
		}
		fmt.Fprintf(e.stderr, "payment of %s on %s from %s sent; the server did not confirm; your authorization may still be settled until %s: check the balance before paying again\n", res.Price, res.Network, res.Payer, until)
	}
	fillRejection(res, err)
	if res.Paid {
		printPaidLine(e.stderr, res)
	}
	if o.json && code != ExitUsage {
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false)
		if jerr := enc.Encode(res); jerr != nil {
			err = errors.Join(err, fmt.Errorf("writing the JSON result: %w", jerr))
		}
	}
	if err == nil || code == ExitUsage {
		return err
	}
	return &exitCodeError{code: code, err: err}
}

// fillPolicyRefusal records the rule and the option of a payment the
// policy refused, when err is such a refusal.
func fillPolicyRefusal(res *payResult, err error) {
	var pe *client.PolicyError
	if !errors.As(err, &pe) {
		return
	}
	res.Reason = "policy:" + pe.Rule
	if pe.Option != nil && res.Price == "" {
		fillOption(res, pe.Option)
	}
	if res.Price == "" {
		res.Price = pe.Price
	}
}

// fillOutcomeUnknown records a payment whose outcome is unknown, when err
// says so.
func fillOutcomeUnknown(res *payResult, err error) {
	var (
		unknown  *client.OutcomeUnknownError
		rejected *client.PaymentError
	)
	if errors.As(err, &rejected) && !rejected.Unspent {
		// Rejected, but not proven unspent: the server holds a payment
		// it may settle.
		res.OutcomeUnknown = true
		if !rejected.ValidBefore.IsZero() {
			res.MaySettleUntil = rejected.ValidBefore.UTC().Format(time.RFC3339)
		}
		return
	}
	if !errors.As(err, &unknown) {
		return
	}
	res.OutcomeUnknown = true
	if !unknown.ValidBefore.IsZero() {
		res.MaySettleUntil = unknown.ValidBefore.UTC().Format(time.RFC3339)
	}
	if unknown.Option != nil {
		fillOption(res, unknown.Option)
	}
	if unknown.StatusCode != 0 {
		res.Status = unknown.StatusCode
	}
	res.Reason = string(unknown.Reason)
}

// fillRejection records what a server that rejected the payment said,
// when err is such a rejection.
func fillRejection(res *payResult, err error) {
	var rej *client.PaymentError
	if !errors.As(err, &rej) {
		return
	}
	if rej.Option != nil {
		fillOption(res, rej.Option)
	}
	if rej.Reason != "" {
		res.Reason = string(rej.Reason)
	}
	if rej.StatusCode != 0 {
		res.Status = rej.StatusCode
	}
	if s := rej.Settlement; s != nil {
		res.Transaction = s.Transaction
		if s.Payer != "" {
			res.Payer = s.Payer
		}
		if res.Reason == "" {
			res.Reason = string(s.ErrorReason)
		}
	}
}

// printPaidLine writes the line that says what was paid, such as
// "paid 0.001 USDC on eip155:8453 from 0x... tx 0x... (settled)".
func printPaidLine(w io.Writer, res *payResult) {
	line := fmt.Sprintf("paid %s on %s from %s", res.Price, res.Network, res.Payer)
	if res.Charged != "" {
		line = fmt.Sprintf("paid %s (authorized up to %s) on %s from %s", res.Charged, res.Price, res.Network, res.Payer)
	}
	if res.Transaction != "" {
		line += " tx " + res.Transaction
	}
	state := "settled"
	if res.pending != "" {
		state = res.pending
	}
	fmt.Fprintf(w, "%s (%s)\n", line, state)
}
