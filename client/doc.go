// Package client is the buyer's side of x402: an http.RoundTripper that pays
// for resources answering 402 Payment Required, for Go programs and AI
// agents that spend on their owner's behalf.
//
// # Paying
//
// A [Client] sends a request; if the server answers 402 with x402 payment
// requirements (the PAYMENT-REQUIRED header of x402 v2, or the JSON body of
// a v1 server), it picks one of the options it can pay (those for which a
// scheme client is registered in [Config.Schemes]), checks it against its
// [Policy], has the scheme client sign the payment and sends the request
// once more with it. [NewEVM] registers the EVM "exact" scheme (EIP-3009
// authorizations) for a signer. The response carries a [Receipt]:
//
//	signer, err := client.LoadKeyFromEnv("GO402_KEY")
//	c, err := client.NewEVM(signer, client.Config{
//		Policy: client.Policy{MaxPerRequest: "$0.01", Budget: "$1", BudgetFile: "spend.json"},
//	})
//	resp, err := c.HTTPClient().Get("https://api.example.com/weather")
//	if r, ok := client.ReceiptFromResponse(resp); ok && r.Settlement != nil {
//		fmt.Println("paid", r.Option.Price, "in transaction", r.Settlement.Transaction)
//	}
//
// [Client.Quote] tells what a request would cost, and whether the policy
// would pay it, without signing anything.
//
// # Policy and budgets
//
// Every rule of the [Policy] is checked before anything is signed; a
// refusal is a [*PolicyError] naming the rule and the price. Money limits
// are exact decimals in whole units of the asset paid, compared without
// floats.
//
// The price of the chosen option is reserved against the budgets
// atomically (under a mutex and, with [Policy.BudgetFile], an advisory file
// lock shared by every process using the file) before signing, so that
// concurrent payments never exceed a budget. The reservation is released
// only when nothing was sent: the policy's approval callback or signing
// failed, or the connection could not be made.
//
// A signed authorization is a bearer instrument: a server can settle it
// itself and still answer 402. So once sent it counts as spent until it is
// proven unspent on chain, through the JSON-RPC endpoints of
// [Config.RPCURLs]: when the server says it did not take it (402, a failed
// settlement, an error other than 502/504 without a settlement), the
// authorization's state is read at once, and an unused one is marked
// released ([PaymentError.Unspent]) but still counted and watched until it
// expires: until then the server could settle it, and one that kept
// refused authorizations could otherwise collect more than the budget. Any other sent payment (settled, pending, an
// unknown outcome reported as an [*OutcomeUnknownError], 502/504, a
// rejection the chain could not check, which also wraps
// [ErrPaymentOutcomeUnknown]) counts until the chain shows it used or
// expired unused ([Client.Reclaim], run before each payment). What cannot
// be read stays counted, so a budget never under-counts what may have
// been charged. [Policy.MaxValidity] (3 minutes by default) caps how long
// a signed payment stays valid, so that budgets free up soon.
//
// Money limits written in dollars ("$0.10") apply only to assets known as
// US dollar stablecoins (see [Policy]); a limit without a unit ("0.10")
// applies to any known asset, one with a symbol ("0.10 EURC") to assets
// with that symbol, and one in atomic units ("1500000 atomic
// eip155:84532/0xToken") to that asset only.
//
// # Assets
//
// What the policy knows of an asset (decimals, symbol, whether it is a US
// dollar stablecoin) comes from [Config.Assets], by default
// [DefaultAssets], the built-in EVM stablecoins. Any other token, on any
// network, is declared with [Assets.Add], from an assets file
// ([LoadAssetsFile]) or a one-line spec ([ParseAsset]); go402 pay does so
// with --assets and --asset. An asset nobody declared is paid only under
// limits in its atomic units, or with no limit at all.
//
// # Retries
//
// A request is paid at most once: the paid request is a clone of the
// original with the payment header, sent once; its body is replayed through
// GetBody or buffered up front. If the paid request fails in transport, it
// is sent once more with the same signed header, never a new payment. If
// that first attempt may have reached the server, a 402 to the copy does
// not mean the payment was rejected (the server may have served and
// charged the first attempt, and refuses a copy of a payment it used): it
// is reported as an [*OutcomeUnknownError]. A request that already carries
// PAYMENT-SIGNATURE or X-PAYMENT is passed through untouched.
//
// # Keys
//
// [LoadKeyFromEnv] reads a hex private key from an environment variable,
// [LoadKeystore] decrypts a go-ethereum keystore file. Any [evm.Signer]
// works, including remote ones. Nothing in this package logs keys,
// signatures or payment headers, and logs are at Debug level only.
//
// See docs/client.md in the repository for the client, go402 pay and
// go402 wallet.
package client
