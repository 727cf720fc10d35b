package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/redact"
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

A signed payment is a bearer instrument: whoever holds it can settle it
until it expires, even a server that then answers that it did not. So a
payment that was sent counts as spent (in --budget and --budget-file)
until the chain shows it unused: read through --rpc NETWORK=URL (or the
devnet of --devnet-info), right away when the server says it did not take
it, and by a later run once it has expired (--max-validity, default 3m,
caps how long a payment stays valid). The --budget-file records such
payments (network, token, payer, nonce, expiry; never the signature).

Payment channels: a server asking for the "batch-settlement" scheme is paid
through a channel: the first call deposits (the server's minDeposit, else 5 x
the price, or only what the call needs when --budget cannot cover more), each
call signs a voucher for the cumulative amount, and the channel is topped up
when low. The budget counts the deposits (money leaving the wallet), not the
vouchers. --channel-file FILE (default $GO402_CHANNEL_FILE) keeps channels
across runs; --channels lists them and --refund CHANNELID|all asks their
servers for a cooperative refund of the unclaimed balance (both without URL).
A server caught breaking the scheme's rules stops its channel (exit 1).

Exit codes:
  0  success: a 2xx response (after paying, or free)
  1  any other failure (payer key, devnet info, -o file, ...)
  2  usage: invalid flags or arguments
  3  refused by the policy (--max, --budget, --allow-network): nothing
     signed, nothing paid
  4  payment rejected by the server (verification or settlement failed),
     and not taken: the chain showed the payment unused when the server
     refused it (read through --rpc or --devnet-info). Until it expires
     the server still holds a valid authorization, so --budget keeps
     counting it until then
  5  HTTP error status other than 402 of a free request, or after paying
     when the chain showed the payment unused (nothing taken), or a
     network error or timeout before the payment was sent
  6  payment sent and not confirmed: the server rejected it but the chain
     could not show it unused (no --rpc for the network, or it was used),
     or its answer was lost (a network error or timeout), the server
     refused the same payment sent again after such a loss, or it answered
     502, 504 or another error status without a settlement and the chain
     could not show the payment unused. The payment may have been or still
     be charged until it expires, and --budget counts it. Check the
     balance before paying again.`

func runPay(ctx context.Context, e env, args []string) error {
	o, err := parsePayFlags(e, args)
	if err != nil {
		return err
	}
	if o.listChannels || o.refund != "" {
		return runPayChannels(ctx, e, o)
	}
	res := &payResult{URL: o.url.String()}
	err = pay(ctx, e, o, res)
	return finishPay(e, o, res, err)
}

// pay makes the request and fills res. Its error decides the exit code.
func pay(ctx context.Context, e env, o *payOptions, res *payResult) error {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	c, err := newPayClient(e, o, res)
	if err != nil {
		return err
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
		return unwrapPayError(err)
	}
	defer resp.Body.Close()
	return readPayResponse(e, o, resp, res)
}

// newPayClient builds the paying client from the flags: the known assets,
// the payer's signer, the policy and the logger. It records the payer in
// res.
func newPayClient(e env, o *payOptions, res *payResult) (*client.Client, error) {
	assets, err := payAssets(o)
	if err != nil {
		return nil, err
	}
	signer, err := paySigner(o, res)
	if err != nil {
		return nil, err
	}
	logLevel := slog.LevelWarn
	if o.verbose {
		logLevel = slog.LevelDebug
	}
	reg, err := channelSchemes(o, signer)
	if err != nil {
		return nil, err
	}
	c, err := client.NewEVM(signer, client.Config{
		Schemes: reg,
		Assets:  assets,
		Policy: client.Policy{
			MaxPerRequest: o.max,
			Budget:        o.budget,
			BudgetFile:    o.budgetFile,
			AllowNetworks: o.networks,
			MaxValidity:   o.validity,
		},
		RPCURLs: o.rpc,
		Logger:  redact.Logger(slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: logLevel}))),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the paying client: %w", err)
	}
	return c, nil
}

// paySigner loads the payer's key and records its address in res; for a
// --dry-run without a configured key it returns a throwaway one.
func paySigner(o *payOptions, res *payResult) (evm.Signer, error) {
	if o.dryRun && !o.keys.configured() {
		// Quote signs nothing: a throwaway key lets --dry-run work
		// without a wallet. It is never used and never shown.
		return throwawaySigner()
	}
	s, err := o.keys.load()
	if err != nil {
		return nil, err
	}
	res.Payer = s.Address().Hex()
	return s, nil
}

// unwrapPayError strips the "Get URL:" of a failed request when the
// failure is a refusal or a rejection, which needs no URL in front of it.
func unwrapPayError(err error) error {
	var (
		ue *url.Error
		pe *client.PolicyError
	)
	if errors.As(err, &ue) && (errors.As(ue.Err, &pe) || errors.Is(ue.Err, client.ErrPaymentRejected) || errors.Is(ue.Err, client.ErrPaymentOutcomeUnknown)) {
		return ue.Err
	}
	return err
}

// readPayResponse records the response in res, writes its head and body
// where the flags say, and returns the error its status means.
func readPayResponse(e env, o *payOptions, resp *http.Response, res *payResult) error {
	res.Status = resp.StatusCode
	if o.include {
		if o.json {
			res.Headers = resp.Header.Clone()
		} else {
			writeHead(e.stdout, resp)
		}
	}
	bodyErr := writeBody(e, o, resp.Body, res)
	// After the body: a streamed answer's receipt is a trailer.
	if r, ok := client.ReceiptFromResponse(resp); ok {
		fillReceipt(res, r, resp.StatusCode)
	}
	return errors.Join(payStatusError(resp, res), bodyErr)
}

// payStatusError returns the error the status of the final response
// means, nil for a 2xx.
func payStatusError(resp *http.Response, res *payResult) error {
	receipt, sent := client.ReceiptFromResponse(resp)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		return nil
	case sent && res.Transaction == "" && !res.Paid && (client.SettlementMayFollow(resp.StatusCode) || !receipt.Unspent):
		// A server or a proxy gives 502 and 504 while the facilitator (or
		// the upstream) is unreachable or slow: the settlement may still
		// happen. After another error, the payment sent is a bearer
		// instrument the server may still settle unless the chain showed
		// it unused.
		res.OutcomeUnknown = true
		return &exitCodeError{code: ExitUnknown, err: fmt.Errorf("HTTP %s after paying, without a settlement: %w", resp.Status, client.ErrPaymentOutcomeUnknown)}
	case resp.StatusCode == http.StatusPaymentRequired && !res.Paid:
		return &exitCodeError{code: ExitError, err: errors.New("HTTP 402 Payment Required, without x402 payment requirements this client understands")}
	default:
		return &exitCodeError{code: ExitHTTP, err: fmt.Errorf("HTTP %s", resp.Status)}
	}
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
