// Package evm implements the x402 `exact` payment scheme on EVM chains over
// EIP-3009 transferWithAuthorization: the payer signs an EIP-712
// TransferWithAuthorization message for a token such as USDC, and the
// facilitator submits it on chain, paying the gas.
//
// It implements the three sides of the scheme, the one package a scheme is:
//
//   - the payer's, [ExactClient] ([x402.SchemeClient]; [RegisterExactClient]
//     registers it for v1 and v2 on every eip155 network);
//   - the resource server's, [ExactServer] ([x402.SchemeServer]; a registry
//     holding it comes from [ServerSchemes]): it prices routes in the assets
//     of a [Networks] registry and identifies a payment by the same
//     settle-once key as the facilitator side, from the same decoder;
//   - the facilitator's, [ExactFacilitator] ([x402.SchemeFacilitator],
//     [x402.Identifier], [x402.Reconciler]).
//
// And the chain-facing building blocks they are made of:
//
//   - EIP-712 hashing specialised for EIP-3009 ([Domain], [DomainCache],
//     [Authorization], [TransferWithAuthorizationDigest]), equal to the
//     generic EIP-712 encoding but without its reflection and allocations;
//   - 65-byte r‖s‖v EOA signatures as x402 carries them ([Signature],
//     [ParseSignature], [RecoverSigner]), with the same malleability rules
//     (low s, EIP-2) the token contracts enforce;
//   - smart-wallet signatures ([VerifyTypedSignature]: EIP-1271 for a
//     deployed wallet, ERC-6492 for an undeployed one, with a factory
//     allowlist), which the facilitator checks on chain and settles with
//     the bytes overload of transferWithAuthorization, deploying an
//     undeployed wallet in the same transaction; [SmartWalletSigner] pays
//     from such a wallet;
//   - signers for the paying side ([Signer], [PrivateKeySigner],
//     [SignAuthorization]);
//   - settlement transaction sending for the facilitator ([Sender]): gas
//     estimation, EIP-1559 fees, a nonce manager that keeps many transactions
//     in flight from one key, and receipt polling with a deadline.
//
// Values that cross the chain seam are go-ethereum types: common.Address,
// common.Hash and *big.Int, never strings. Nothing in this package logs or
// formats a private key.
//
// See docs/architecture.md in the repository for the scheme's three sides
// (ExactClient, ExactServer, ExactFacilitator), and
// docs/networks-and-assets.md for the built-in networks and tokens.
package evm
