// Package permit2 owns the Uniswap Permit2 primitives that go402's
// Permit2-based x402 payments share: the `exact` scheme's Permit2 transfer
// method and the `upto` scheme.
//
// It holds
//   - the canonical addresses of Permit2 and of the two x402 Permit2 proxies;
//   - EIP-712 hashing of a PermitWitnessTransferFrom message in the Permit2
//     domain {name:"Permit2", chainId, verifyingContract} (no version), with a
//     pluggable [Witness]; the two x402 witnesses are [ExactWitness] and
//     [UptoWitness];
//   - random 256-bit Permit2 nonces ([NewNonce]);
//   - signing through a digest [Signer] (go402's evm.Signer satisfies it) and
//     EOA recovery ([Sign], [Recover]);
//   - the EIP-2612 Permit message a payer signs so that a facilitator can
//     grant Permit2 an allowance on its behalf (the eip2612GasSponsoring
//     extension, [EIP2612Permit], [GasSponsoringInfo]);
//   - the wire form of a "permit2Authorization" payload with a strict parser
//     ([ParsePayload]);
//   - ABI packing of the proxies' settle and settleWithPermit calls and the
//     names of the custom errors they and Permit2 revert with ([RevertName]).
//
// It imports no other go402 package but x402 (for the wire object type) so
// that package evm and the schemes built on it can all use it. The facts
// (addresses, type strings, wire field names, ABIs) are those of the x402
// specification and of the official @x402/evm 2.27 package.
package permit2
