package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/crypto"
	"golang.org/x/net/http/httpguts"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

const payUsage = `pay [flags] URL

Makes an HTTP request, like curl, and when the server answers 402 Payment
Required pays it with x402 (the "exact" scheme on an EVM network) within
the limits of --max, --budget and --allow-network, then sends the request
again with the payment. The response body goes to standard output (or the
-o file); one line on standard error says what was paid, such as

  paid 0.001 USDC on eip155:8453 from 0xPayer... tx 0xHash... (settled)

where "(settled)" may instead be "(settlement pending)" (broadcast, not
yet confirmed) or "(settlement not reported by the server)". Flags may come
before or after URL.

The payer key is the hex private key in $GO402_PAYER_KEY (or the variable
named by --key-env), or an encrypted keystore (--keystore, passphrase in
$GO402_KEYSTORE_PASSWORD or the variable named by --password-env). It is
never printed or logged. "go402 wallet new" creates one.

Prices ("$0.05", "0.05 USDC", "0.05") in --max and --budget are compared
with the price of the option paid, in whole units of its asset. A price in
dollars applies only to US dollar stablecoins: the built-in ones (USDC on
Base, Polygon, Arbitrum, ...), a go402 devnet's test USDC added with
--devnet-info, and assets declared with the "usd" option. "0.05 TOK"
applies only to assets with the symbol TOK, and a bare "0.05" to any asset
whose decimals are known.

Other tokens, on any EVM network (the chain id is the number in the CAIP-2
id), are declared with --asset (repeatable) or in an --assets file:

  --asset NETWORK/ADDRESS:DECIMALS[,symbol=SYM][,name=NAME][,version=VER][,usd]

for example --asset eip155:84532/0x1234...abcd:6,symbol=TOK (name and
version are the token's EIP-712 domain; servers send them, so they are
optional). The --assets file (default $GO402_ASSETS) is JSON:

  {"assets": [{"network": "eip155:84532", "address": "0x1234...abcd",
               "decimals": 6, "symbol": "TOK", "usdStablecoin": false,
               "name": "Token", "version": "1"}]}

A limit may also be in atomic units of one asset:
"1500000 atomic eip155:84532/0x1234...abcd", or, with exactly one --asset,
the shorthand "1500000atomic". It is the only limit under which a token
nobody declared can be paid. With "--asset ...:6,symbol=TOK", "--max 1.5 TOK"
and "--max 1500000atomic" both mean 1.5 TOK and apply to TOK only, while a
bare "--max 1.5" means 1.5 of any known token. An option in an asset that
a limit does not apply to is refused (exit 3), never paid unchecked.

--dry-run asks the server for its price without paying or signing anything
(no key is needed) and prints the price, asset, network, payTo and whether
the policy would allow the payment (exit 3 if not). It does send the
request once, unpaid: a server that asks for no payment serves it as usual.
So it is refused for methods other than GET and HEAD (and for -d, which
means POST) unless --unsafe-dry-run is given as well.

--json prints exactly one JSON object on standard output, whatever the
outcome (except usage errors, exit 2):

  {"url": "https://...",      the URL requested
   "status": 200,             HTTP status of the final response, 0 if none
   "paid": true,              a payment was accepted (settled or pending)
   "price": "0.001 USDC",     the price of the option chosen, "" if none
   "asset": "0x...",          its token contract
   "network": "eip155:8453",  its network
   "payTo": "0x...",          its recipient
   "payer": "0x...",          the payer's address
   "transaction": "0x...",    the settlement transaction, "" if not reported
   "success": true,           the exit code is 0
   "exitCode": 0,             the exit code (see below)
   "error": "",               what went wrong, "" on success
   "reason": "",              x402 reason code of a rejected payment, or
                              "policy:<rule>" when the policy refused it
   "outcomeUnknown": false,   the payment may have been charged although
                              no answer says so (exit 6); omitted if false
   "body": "..."}             the response body, when not written with -o
                              ("bodyBase64" instead if it is not UTF-8)

With -i the object also has "headers" (name -> list of values); with
--dry-run it has "dryRun": true and "allowed" (the policy's verdict).

Exit codes:
  0  success: a 2xx response (after paying, or free)
  1  any other failure (payer key, devnet info, -o file, ...)
  2  usage: invalid flags or arguments
  3  refused by the policy (--max, --budget, --allow-network): nothing paid
  4  payment rejected by the server (verification or settlement failed):
     nothing paid
  5  HTTP error status (non-2xx after paying, or an error other than 402),
     or a network error or timeout before the payment was sent
  6  payment outcome unknown: the payment was sent but its answer was lost
     (a network error or timeout), the server refused the same payment
     sent again after such a loss, or it answered 502 or 504 without a
     settlement; the payment may have been charged, and --budget counts
     it. Check the balance before paying again.`

// Exit codes of go402 pay, beyond ExitOK, ExitError and ExitUsage.
const (
	ExitPolicy   = 3 // refused by the payment policy
	ExitRejected = 4 // payment rejected by the server or its facilitator
	ExitHTTP     = 5 // HTTP error status, network error or timeout
	ExitUnknown  = 6 // the payment may have been charged; no answer says so
)

// maxJSONBody bounds the response body embedded in --json output.
const maxJSONBody = 32 << 20

// payOptions are the parsed flags of go402 pay.
type payOptions struct {
	url        *url.URL
	method     string
	headers    http.Header
	host       string
	data       []string
	output     string
	include    bool
	max        string
	budget     string
	budgetFile string
	networks   []x402.Network
	dryRun     bool
	unsafeDry  bool
	json       bool
	verbose    bool
	devnetInfo string
	assetsFile string
	assets     []client.Asset // declared with --asset
	timeout    time.Duration
	keys       keyFlags
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// defaultPayMax caps what `go402 pay` pays per request unless --max says
// otherwise.
const defaultPayMax = "$0.10"

func runPay(ctx context.Context, e env, args []string) error {
	o, err := parsePayFlags(e, args)
	if err != nil {
		return err
	}
	res := &payResult{URL: o.url.String()}
	err = pay(ctx, e, o, res)
	return finishPay(e, o, res, err)
}

func parsePayFlags(e env, args []string) (*payOptions, error) {
	fs := newFlagSet(e, "pay", payUsage)
	o := &payOptions{}
	var headers, data, networks, assets listFlag
	fs.StringVar(&o.method, "X", "", "HTTP `method` (default GET, or POST with -d)")
	fs.Var(&headers, "H", "request header `'Name: value'` (repeatable)")
	fs.Var(&data, "d", "request `body`: text, @FILE to read a file or @- to read standard input; sent as is, with Content-Type application/x-www-form-urlencoded unless -H sets one; repeated -d are joined with &")
	fs.Var(&data, "data", "same as -d")
	fs.StringVar(&o.output, "o", "", "write the response body to `file` instead of standard output (- means standard output)")
	fs.BoolVar(&o.include, "i", false, "print the status line and the response headers on standard output before the body")
	fs.StringVar(&o.max, "max", defaultPayMax, "most to pay for this request, a `price` such as $0.05 or \"0.05 USDC\"; a payer is never asked to trust the server's price blindly")
	fs.StringVar(&o.budget, "budget", "", "most to pay in total, a `price`; with --budget-file, across runs")
	fs.StringVar(&o.budgetFile, "budget-file", "", "`file` recording what was spent, so that --budget holds across runs")
	fs.Var(&networks, "allow-network", "only pay on this CAIP-2 `network`, such as eip155:8453 or eip155:* (repeatable; default any known network)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the price and whether the policy allows it; pay and sign nothing (the request is sent once, unpaid: GET and HEAD only)")
	fs.BoolVar(&o.unsafeDry, "unsafe-dry-run", false, "allow --dry-run with another method than GET or HEAD, although the unpaid request reaches the server, which may act on it")
	fs.BoolVar(&o.json, "json", false, "print one JSON object on standard output (see above)")
	fs.BoolVar(&o.verbose, "v", false, "log the payment steps on standard error (never keys or signatures)")
	fs.StringVar(&o.devnetInfo, "devnet-info", "", "JSON `file` written by --info-file of go402 devnet, dev, facilitator --devnet or gateway --devnet: adds that devnet and its test USDC to the known networks")
	fs.Var(&assets, "asset", "declare a `token` payable, NETWORK/ADDRESS:DECIMALS[,symbol=SYM][,name=NAME][,version=VER][,usd] (repeatable; see above)")
	fs.StringVar(&o.assetsFile, "assets", os.Getenv("GO402_ASSETS"), "JSON `file` of declared tokens (see above); default $GO402_ASSETS")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "give up after this `duration` (the whole exchange, payment included)")
	o.keys.register(fs)

	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	if err := o.keys.check(fs); err != nil {
		return nil, err
	}
	switch len(pos) {
	case 0:
		return nil, usagef("missing URL")
	case 1:
	default:
		return nil, usagef("one URL only; unexpected arguments: %s", strings.Join(pos[1:], " "))
	}
	u, err := url.Parse(pos[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("URL %q: want an absolute http:// or https:// URL", pos[0])
	}
	o.url = u

	o.headers = http.Header{}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !httpguts.ValidHeaderFieldName(name) || strings.ContainsAny(value, "\r\n\x00") {
			return nil, usagef("-H %q: want 'Name: value'", h)
		}
		if strings.EqualFold(name, "Host") {
			o.host = value
			continue
		}
		o.headers.Add(name, value)
	}
	o.data = data
	if o.method == "" {
		o.method = http.MethodGet
		if len(data) > 0 {
			o.method = http.MethodPost
		}
	}
	if !httpguts.ValidHeaderFieldName(o.method) {
		return nil, usagef("-X %q is not an HTTP method", o.method)
	}
	if o.dryRun && !o.unsafeDry && o.method != http.MethodGet && o.method != http.MethodHead {
		return nil, usagef("--dry-run sends the request unpaid to learn its price, and a %s may change something on a server that does not ask for payment: add --unsafe-dry-run to send it anyway", o.method)
	}
	if o.unsafeDry && !o.dryRun {
		return nil, usagef("--unsafe-dry-run only applies with --dry-run")
	}
	for _, n := range networks {
		nw, err := x402.ParseNetworkPattern(n)
		if err != nil {
			return nil, usagef("--allow-network: %v", err)
		}
		o.networks = append(o.networks, nw)
	}
	for _, spec := range assets {
		a, err := client.ParseAsset(spec)
		if err != nil {
			return nil, usagef("--asset: %v", err)
		}
		o.assets = append(o.assets, a)
	}
	for _, p := range []struct {
		flag string
		v    *string
	}{{"max", &o.max}, {"budget", &o.budget}} {
		v, err := expandAtomic(*p.v, o.assets)
		if err != nil {
			return nil, usagef("--%s: %v", p.flag, err)
		}
		*p.v = v
	}
	if err := (client.Policy{MaxPerRequest: o.max, Budget: o.budget}).Validate(); err != nil {
		return nil, usagef("%v", err)
	}
	switch {
	case o.budgetFile != "" && o.budget == "":
		return nil, usagef("--budget-file needs --budget")
	case o.timeout < 0:
		return nil, usagef("--timeout must not be negative")
	case o.json && o.output == "-":
		return nil, usagef("-o - and --json both write to standard output")
	}
	if o.output == "-" {
		o.output = ""
	}
	return o, nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, as curl allows; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// payResult is what go402 pay reports; it is the --json output.
type payResult struct {
	URL         string      `json:"url"`
	Status      int         `json:"status"`
	Paid        bool        `json:"paid"`
	Price       string      `json:"price"`
	Asset       string      `json:"asset"`
	Network     string      `json:"network"`
	PayTo       string      `json:"payTo"`
	Payer       string      `json:"payer"`
	Transaction string      `json:"transaction"`
	Success     bool        `json:"success"`
	ExitCode    int         `json:"exitCode"`
	Error       string      `json:"error"`
	Reason      string      `json:"reason"`
	Body        *string     `json:"body,omitempty"`
	BodyBase64  *string     `json:"bodyBase64,omitempty"`
	Headers     http.Header `json:"headers,omitempty"`
	DryRun      bool        `json:"dryRun,omitempty"`
	Allowed     *bool       `json:"allowed,omitempty"`
	// OutcomeUnknown: the payment may have been charged (exit 6).
	OutcomeUnknown bool `json:"outcomeUnknown,omitempty"`

	// pending says why a payment is not known to be settled yet ("" when
	// it is): broadcast but unconfirmed, or not reported by the server.
	pending string
}

// pay makes the request and fills res. Its error decides the exit code.
func pay(ctx context.Context, e env, o *payOptions, res *payResult) error {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	assets, err := payAssets(o)
	if err != nil {
		return err
	}
	var signer evm.Signer
	if o.dryRun && !o.keys.configured() {
		// Quote signs nothing: a throwaway key lets --dry-run work
		// without a wallet. It is never used and never shown.
		s, err := throwawaySigner()
		if err != nil {
			return err
		}
		signer = s
	} else {
		s, err := o.keys.load()
		if err != nil {
			return err
		}
		signer = s
		res.Payer = s.Address().Hex()
	}
	logLevel := slog.LevelWarn
	if o.verbose {
		logLevel = slog.LevelDebug
	}
	c, err := client.NewEVM(signer, client.Config{
		Assets: assets,
		Policy: client.Policy{
			MaxPerRequest: o.max,
			Budget:        o.budget,
			BudgetFile:    o.budgetFile,
			AllowNetworks: o.networks,
		},
		Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: logLevel})),
	})
	if err != nil {
		return fmt.Errorf("creating the paying client: %w", err)
	}
	req, err := newPayRequest(ctx, e, o)
	if err != nil {
		return err
	}
	if o.dryRun {
		return payDryRun(ctx, e, o, c, req, res)
	}

	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		// A refusal or a rejection needs no "Get URL:" in front of it.
		var (
			ue *url.Error
			pe *client.PolicyError
		)
		if errors.As(err, &ue) && (errors.As(ue.Err, &pe) || errors.Is(ue.Err, client.ErrPaymentRejected) || errors.Is(ue.Err, client.ErrPaymentOutcomeUnknown)) {
			return ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	if r, ok := client.ReceiptFromResponse(resp); ok {
		fillReceipt(res, r, resp.StatusCode)
	}
	if o.include {
		if o.json {
			res.Headers = resp.Header.Clone()
		} else {
			writeHead(e.stdout, resp)
		}
	}
	bodyErr := writeBody(e, o, resp.Body, res)
	var statusErr error
	_, sent := client.ReceiptFromResponse(resp)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
	case sent && res.Transaction == "" && !res.Paid && client.SettlementMayFollow(resp.StatusCode):
		// A server or a proxy gives these while the facilitator (or the
		// upstream) is unreachable or slow: the settlement may still
		// happen.
		res.OutcomeUnknown = true
		statusErr = &exitCodeError{code: ExitUnknown, err: fmt.Errorf("HTTP %s after paying, without a settlement: %w", resp.Status, client.ErrPaymentOutcomeUnknown)}
	case resp.StatusCode == http.StatusPaymentRequired && !res.Paid:
		statusErr = &exitCodeError{code: ExitError, err: errors.New("HTTP 402 Payment Required, without x402 payment requirements this client understands")}
	default:
		statusErr = &exitCodeError{code: ExitHTTP, err: fmt.Errorf("HTTP %s", resp.Status)}
	}
	return errors.Join(statusErr, bodyErr)
}

// throwawaySigner returns a signer for a new random key.
func throwawaySigner() (evm.Signer, error) {
	key, err := crypto.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("generating a key: %w", err)
	}
	return evm.NewPrivateKeySignerFromECDSA(key)
}

// newPayRequest builds the request from the flags. Its body is replayable
// (the request is sent again with the payment).
func newPayRequest(ctx context.Context, e env, o *payOptions) (*http.Request, error) {
	var body io.Reader
	if len(o.data) > 0 {
		parts := make([][]byte, 0, len(o.data))
		stdinUsed := false
		for _, d := range o.data {
			switch {
			case d == "@-":
				if stdinUsed {
					return nil, usagef("-d @- given twice")
				}
				stdinUsed = true
				b, err := io.ReadAll(e.stdin)
				if err != nil {
					return nil, fmt.Errorf("reading the request body from standard input: %w", err)
				}
				parts = append(parts, b)
			case strings.HasPrefix(d, "@"):
				b, err := os.ReadFile(d[1:])
				if err != nil {
					return nil, fmt.Errorf("reading the request body: %w", err)
				}
				parts = append(parts, b)
			default:
				parts = append(parts, []byte(d))
			}
		}
		body = bytes.NewReader(bytes.Join(parts, []byte("&")))
	}
	req, err := http.NewRequestWithContext(ctx, o.method, o.url.String(), body)
	if err != nil {
		return nil, usagef("%v", err)
	}
	for k, v := range o.headers {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent("go402-pay"))
	}
	if o.host != "" {
		req.Host = o.host
	}
	return req, nil
}

// payDryRun asks for the price without paying or signing.
func payDryRun(ctx context.Context, e env, o *payOptions, c *client.Client, req *http.Request, res *payResult) error {
	res.DryRun = true
	q, err := c.Quote(ctx, req)
	if err != nil {
		return err
	}
	allowed := q.Refusal == nil
	res.Allowed, res.Status = &allowed, q.StatusCode
	if q.Option != nil {
		fillOption(res, q.Option)
	}
	if !o.json {
		w := e.stdout
		switch {
		case q.Free:
			fmt.Fprintf(w, "free: %s asks for no payment\n", q.URL)
		case q.Option == nil:
			fmt.Fprintf(w, "%s asks for a payment this client cannot make\n", q.URL)
		default:
			fmt.Fprintf(w, "price    %s\n", res.Price)
			fmt.Fprintf(w, "asset    %s\n", res.Asset)
			fmt.Fprintf(w, "network  %s\n", res.Network)
			fmt.Fprintf(w, "payTo    %s\n", res.PayTo)
			if q.Resource != nil && q.Resource.Description != "" {
				fmt.Fprintf(w, "for      %s\n", q.Resource.Description)
			}
			if allowed {
				fmt.Fprintf(w, "policy   allows it\n")
			} else {
				fmt.Fprintf(w, "policy   refuses it: %v\n", q.Refusal)
			}
		}
	}
	if q.Refusal != nil {
		return q.Refusal
	}
	if !q.Free && q.Option == nil {
		return &exitCodeError{code: ExitError, err: errors.New("no payment option this client can pay")}
	}
	return nil
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
	var pe *client.PolicyError
	if errors.As(err, &pe) {
		res.Reason = "policy:" + pe.Rule
		if pe.Option != nil && res.Price == "" {
			fillOption(res, pe.Option)
		}
		if res.Price == "" {
			res.Price = pe.Price
		}
	}
	var unknown *client.OutcomeUnknownError
	if errors.As(err, &unknown) {
		res.OutcomeUnknown = true
		if unknown.Option != nil {
			fillOption(res, unknown.Option)
		}
		if unknown.StatusCode != 0 {
			res.Status = unknown.StatusCode
		}
		res.Reason = string(unknown.Reason)
	}
	if res.OutcomeUnknown {
		fmt.Fprintf(e.stderr, "payment of %s on %s from %s: outcome unknown, it may have been charged; check the balance before paying again\n", res.Price, res.Network, res.Payer)
	}
	var rej *client.PaymentError
	if errors.As(err, &rej) {
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
	if res.Paid {
		line := fmt.Sprintf("paid %s on %s from %s", res.Price, res.Network, res.Payer)
		if res.Transaction != "" {
			line += " tx " + res.Transaction
		}
		state := "settled"
		if res.pending != "" {
			state = res.pending
		}
		fmt.Fprintf(e.stderr, "%s (%s)\n", line, state)
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
