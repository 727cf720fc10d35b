// Package upto implements the x402 "upto" payment scheme on EVM chains: the
// payer signs a Permit2 PermitWitnessTransferFrom for a maximum amount, and
// the resource server, once it knows what the request used, has the
// facilitator settle any amount up to that maximum (nothing at all when
// nothing was used). It suits prices that are known only after the work is
// done: LLM tokens, bytes, compute time.
//
// The authorization is Permit2's signature transfer with the x402 upto
// proxy (0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002) as its spender and the
// witness Witness(address to,address facilitator,uint256 validAfter): the
// payee is fixed by the payer's signature, and only the facilitator named
// in the witness can settle it (the proxy requires msg.sender to be
// witness.facilitator). A server learns the facilitator's address from its
// /supported answer (extra.facilitatorAddress of the "upto" kind, see
// [FacilitatorAddress]) and announces it in its requirements' extra, with
// the token's EIP-712 name and version.
//
// The package holds the scheme's three sides:
//
//   - the payer's, [Client] ([x402.SchemeClient]; [RegisterClient]): it
//     signs deadline = now + maxTimeoutSeconds and validAfter = 0 with a
//     random 256-bit Permit2 nonce, as @x402/evm does;
//   - the resource server's, [Server] ([x402.SchemeServer] and
//     [x402.MeteredScheme]): it prices a route at its maximum and turns the
//     accepted requirements into the settle-time ones for the amount used;
//   - the facilitator's, [Facilitator] ([x402.SchemeFacilitator],
//     [x402.Identifier], [x402.Reconciler], [x402.FundsVerifier]): /verify
//     checks that the permitted amount equals the requirements' amount
//     (the maximum); /settle receives the actual amount as the
//     requirements' amount, which must not exceed the permitted one
//     (invalid_upto_evm_payload_settlement_exceeds_amount), and transfers
//     it with the proxy's settle; 0 sends no transaction and answers success
//     with transaction "" and amount "0". Every answer carries the amount.
//
// A payment is keyed, for settle-once purposes, by (network, asset, payer,
// Permit2 nonce): Permit2 uses a nonce once per owner, and go402's
// facilitator ledger refuses a second settlement of the key, whatever
// amount it asks for.
//
// The payer needs an ERC-20 allowance to Permit2 (a one-time approve);
// without it, verify answers permit2_allowance_required, unless the payment
// carries the eip2612GasSponsoring extension (the payer's EIP-2612 permit
// of Permit2, which the [Client] signs when the 402 declares it): the
// facilitator then settles with the proxy's settleWithPermit. Smart-wallet
// payers sign with EIP-1271 (deployed) or ERC-6492 (counterfactual, from a
// factory the facilitator allows); see [evm.CheckTypedSignature].
//
// See docs/upto.md in the repository.
package upto
