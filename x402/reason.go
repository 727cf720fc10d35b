package x402

// Reason is a machine-readable x402 error code, carried as invalidReason in a
// VerifyResponse, errorReason in a SettleResponse and error in a 402 body.
//
// go402 emits the codes the current reference SDKs emit (the "exact EVM"
// group below); the spec's and the legacy v1 codes are defined too so that
// answers from any peer are understood. Reason is an open set: an unknown
// code from a peer is kept as received.
type Reason string

// String returns the code.
func (r Reason) String() string { return string(r) }

// Codes of the x402 v1 and v2 specifications (section 9). The spec codes for
// valid_after, valid_before and the v2 value mismatch are the same strings as
// the SDK codes below.
const (
	ReasonInsufficientFunds               Reason = "insufficient_funds"
	ReasonInvalidExactEVMPayloadValue     Reason = "invalid_exact_evm_payload_authorization_value"
	ReasonInvalidExactEVMPayloadSignature Reason = "invalid_exact_evm_payload_signature"
	ReasonInvalidExactEVMPayloadRecipient Reason = "invalid_exact_evm_payload_recipient_mismatch"
	ReasonInvalidNetwork                  Reason = "invalid_network"
	ReasonInvalidPayload                  Reason = "invalid_payload"
	ReasonInvalidPaymentRequirements      Reason = "invalid_payment_requirements"
	ReasonInvalidScheme                   Reason = "invalid_scheme"
	ReasonUnsupportedScheme               Reason = "unsupported_scheme"
	ReasonInvalidX402Version              Reason = "invalid_x402_version"
	ReasonInvalidTransactionState         Reason = "invalid_transaction_state"
	ReasonUnexpectedVerifyError           Reason = "unexpected_verify_error"
	ReasonUnexpectedSettleError           Reason = "unexpected_settle_error"
	ReasonDuplicateSettlement             Reason = "duplicate_settlement"
)

// Codes of the current reference SDKs for the EVM "exact" scheme (TypeScript
// @x402/evm and the Go SDK agree on these character for character, except
// where noted).
const (
	ReasonExactEVMScheme              Reason = "invalid_exact_evm_scheme"
	ReasonExactEVMNetworkMismatch     Reason = "invalid_exact_evm_network_mismatch"
	ReasonExactEVMMissingEIP712Domain Reason = "invalid_exact_evm_missing_eip712_domain"
	ReasonExactEVMRecipientMismatch   Reason = "invalid_exact_evm_recipient_mismatch"
	ReasonExactEVMSignature           Reason = "invalid_exact_evm_signature"
	ReasonExactEVMValidBefore         Reason = "invalid_exact_evm_payload_authorization_valid_before"
	ReasonExactEVMValidAfter          Reason = "invalid_exact_evm_payload_authorization_valid_after"
	// ReasonExactEVMAuthorizationValue: the authorization's value differs
	// from the required amount, in an x402 v1 payment. @x402/evm 2.27
	// answers v1 payments (its legacy exact scheme) with this code, and
	// go402 does the same; earlier @x402/evm 2.x releases used it for v2
	// too.
	ReasonExactEVMAuthorizationValue Reason = "invalid_exact_evm_authorization_value"
	// ReasonExactEVMValueMismatch: the authorization's value differs from
	// the required amount, in an x402 v2 payment. It is the code of the v2
	// spec, the Go SDK and @x402/evm 2.27; go402 emits it for v2.
	ReasonExactEVMValueMismatch          Reason = "invalid_exact_evm_payload_authorization_value_mismatch"
	ReasonExactEVMUndeployedSmartWallet  Reason = "invalid_exact_evm_payload_undeployed_smart_wallet"
	ReasonExactEVMTransactionFailed      Reason = "invalid_exact_evm_transaction_failed"
	ReasonExactEVMTokenNameMismatch      Reason = "invalid_exact_evm_token_name_mismatch"
	ReasonExactEVMTokenVersionMismatch   Reason = "invalid_exact_evm_token_version_mismatch"
	ReasonExactEVMEIP3009NotSupported    Reason = "invalid_exact_evm_eip3009_not_supported"
	ReasonExactEVMNonceAlreadyUsed       Reason = "invalid_exact_evm_nonce_already_used"
	ReasonExactEVMInsufficientBalance    Reason = "invalid_exact_evm_insufficient_balance"
	ReasonExactEVMSimulationFailed       Reason = "invalid_exact_evm_transaction_simulation_failed"
	ReasonUnsupportedPayloadType         Reason = "unsupported_payload_type"
	ReasonExactEVMPayload                Reason = "invalid_exact_evm_payload"
	ReasonExactEVMMissingSignature       Reason = "invalid_exact_evm_payload_missing_signature"
	ReasonExactEVMFailedNetworkConfig    Reason = "invalid_exact_evm_failed_to_get_network_config"
	ReasonExactEVMRequiredAmount         Reason = "invalid_exact_evm_required_amount"
	ReasonExactEVMFailedToCheckNonce     Reason = "invalid_exact_evm_failed_to_check_nonce"
	ReasonExactEVMFailedToGetBalance     Reason = "invalid_exact_evm_failed_to_get_balance"
	ReasonExactEVMSignatureFormat        Reason = "invalid_exact_evm_signature_format"
	ReasonExactEVMFailedToVerifySig      Reason = "invalid_exact_evm_failed_to_verify_signature"
	ReasonExactEVMVerificationFailed     Reason = "invalid_exact_evm_verification_failed"
	ReasonExactEVMFailedToParseSignature Reason = "invalid_exact_evm_failed_to_parse_signature"
	ReasonExactEVMFailedToCheckDeploy    Reason = "invalid_exact_evm_failed_to_check_deployment"
	ReasonExactEVMFailedToExecute        Reason = "invalid_exact_evm_failed_to_execute_transfer"
	ReasonExactEVMFailedToGetReceipt     Reason = "invalid_exact_evm_failed_to_get_receipt"
	ReasonSmartWalletDeploymentFailed    Reason = "smart_wallet_deployment_failed"
	// ReasonExactEVMTransferEventMismatch: the settlement transaction was
	// mined successfully but its receipt has no Transfer event of the
	// authorized from, to and value (@x402/evm 2.27 checks the receipt).
	ReasonExactEVMTransferEventMismatch Reason = "invalid_exact_evm_transfer_event_mismatch"
	// ReasonAssetNotDeployedContract: the requirements' asset address has no
	// contract code on the chain (@x402/evm 2.27).
	ReasonAssetNotDeployedContract Reason = "asset_not_deployed_contract"
	// ReasonEIP6492FactoryNotAllowed: an ERC-6492 signature of an
	// undeployed smart wallet names a deployment factory that the
	// facilitator's allowlist does not contain (@x402/evm 2.27,
	// eip6492AllowedFactories; the allowlist is fail-closed).
	ReasonEIP6492FactoryNotAllowed Reason = "eip6492_factory_not_allowed"
)

// Codes of the EVM Permit2 transfer method.
const (
	ReasonPermit2Spender           Reason = "invalid_permit2_spender"
	ReasonPermit2RecipientMismatch Reason = "invalid_permit2_recipient_mismatch"
	ReasonPermit2DeadlineExpired   Reason = "permit2_deadline_expired"
	ReasonPermit2NotYetValid       Reason = "permit2_not_yet_valid"
	ReasonPermit2AmountMismatch    Reason = "permit2_amount_mismatch"
	ReasonPermit2TokenMismatch     Reason = "permit2_token_mismatch"
	ReasonPermit2Signature         Reason = "invalid_permit2_signature"
	ReasonPermit2AllowanceRequired Reason = "permit2_allowance_required"
	ReasonPermit2SimulationFailed  Reason = "permit2_simulation_failed"
	ReasonPermit2InsufficientFunds Reason = "permit2_insufficient_balance"
	ReasonPermit2ProxyNotDeployed  Reason = "permit2_proxy_not_deployed"
)

// Codes of a Permit2 settlement that reverted, mapped from the custom errors
// of the x402 Permit2 proxy and of Permit2 (@x402/evm 2.27). That mapping
// answers any other revert with invalid_exact_evm_transaction_failed,
// sometimes followed by ": " and the revert message, so a peer's reason can
// also be that code with a suffix.
const (
	// ReasonPermit2InvalidAmount: the proxy reverted with InvalidAmount
	// (the transferred amount does not fit the permit).
	ReasonPermit2InvalidAmount Reason = "permit2_invalid_amount"
	// ReasonPermit2InvalidDestination: the proxy reverted with
	// InvalidDestination (the witness's recipient is not acceptable).
	ReasonPermit2InvalidDestination Reason = "permit2_invalid_destination"
	// ReasonPermit2InvalidOwner: the proxy reverted with InvalidOwner (the
	// owner passed does not match the permit).
	ReasonPermit2InvalidOwner Reason = "permit2_invalid_owner"
	// ReasonPermit2PaymentTooEarly: the proxy reverted with PaymentTooEarly
	// (the block time is before the witness's validAfter).
	ReasonPermit2PaymentTooEarly Reason = "permit2_payment_too_early"
	// ReasonPermit2InvalidNonce: Permit2 reverted with InvalidNonce (the
	// permit's nonce was already used).
	ReasonPermit2InvalidNonce Reason = "permit2_invalid_nonce"
	// ReasonPermit2EIP2612AmountMismatch: the proxy reverted with
	// Permit2612AmountMismatch (the EIP-2612 permit's value differs from the
	// Permit2 amount).
	ReasonPermit2EIP2612AmountMismatch Reason = "permit2_2612_amount_mismatch"
)

// Codes of the erc20ApprovalGasSponsoring extension (Permit2 onboarding:
// the facilitator broadcasts the payer's signed approve(Permit2, …)
// transaction before settling), in @x402/evm 2.27.
const (
	// ReasonERC20ApprovalInvalidFormat: the extension's data is malformed.
	ReasonERC20ApprovalInvalidFormat Reason = "invalid_erc20_approval_extension_format"
	// ReasonERC20ApprovalFromMismatch: the approval is not from the payer.
	ReasonERC20ApprovalFromMismatch Reason = "erc20_approval_from_mismatch"
	// ReasonERC20ApprovalAssetMismatch: the approval is for another token.
	ReasonERC20ApprovalAssetMismatch Reason = "erc20_approval_asset_mismatch"
	// ReasonERC20ApprovalSpenderNotPermit2: the approved spender is not the
	// canonical Permit2 contract.
	ReasonERC20ApprovalSpenderNotPermit2 Reason = "erc20_approval_spender_not_permit2"
	// ReasonERC20ApprovalTxWrongTarget: the signed transaction does not
	// call the token.
	ReasonERC20ApprovalTxWrongTarget Reason = "erc20_approval_tx_wrong_target"
	// ReasonERC20ApprovalTxWrongSelector: the signed transaction does not
	// call approve.
	ReasonERC20ApprovalTxWrongSelector Reason = "erc20_approval_tx_wrong_selector"
	// ReasonERC20ApprovalTxWrongSpender: the signed approve names another
	// spender than Permit2.
	ReasonERC20ApprovalTxWrongSpender Reason = "erc20_approval_tx_wrong_spender"
	// ReasonERC20ApprovalTxInvalidCalldata: the approve calldata does not
	// decode.
	ReasonERC20ApprovalTxInvalidCalldata Reason = "erc20_approval_tx_invalid_calldata"
	// ReasonERC20ApprovalTxSignerMismatch: the transaction is signed by
	// someone other than the payer.
	ReasonERC20ApprovalTxSignerMismatch Reason = "erc20_approval_tx_signer_mismatch"
	// ReasonERC20ApprovalTxInvalidSignature: the transaction's signature
	// does not recover.
	ReasonERC20ApprovalTxInvalidSignature Reason = "erc20_approval_tx_invalid_signature"
	// ReasonERC20ApprovalTxParseFailed: the signed transaction does not
	// parse.
	ReasonERC20ApprovalTxParseFailed Reason = "erc20_approval_tx_parse_failed"
	// ReasonERC20ApprovalTxFailed: the approval transaction was mined and
	// reverted.
	ReasonERC20ApprovalTxFailed Reason = "erc20_approval_tx_failed"
	// ReasonERC20ApprovalBroadcastFailed: the approval transaction could not
	// be broadcast.
	ReasonERC20ApprovalBroadcastFailed Reason = "erc20_approval_broadcast_failed"
)

// Codes of the eip2612GasSponsoring extension (Permit2 onboarding through
// the token's EIP-2612 permit), in @x402/evm 2.27.
const (
	// ReasonEIP2612InvalidFormat: the extension's data is malformed.
	ReasonEIP2612InvalidFormat Reason = "invalid_eip2612_extension_format"
	// ReasonEIP2612FromMismatch: the permit's owner is not the payer.
	ReasonEIP2612FromMismatch Reason = "eip2612_from_mismatch"
	// ReasonEIP2612AssetMismatch: the permit is for another token.
	ReasonEIP2612AssetMismatch Reason = "eip2612_asset_mismatch"
	// ReasonEIP2612SpenderNotPermit2: the permit's spender is not the
	// canonical Permit2 contract.
	ReasonEIP2612SpenderNotPermit2 Reason = "eip2612_spender_not_permit2"
	// ReasonEIP2612DeadlineExpired: the permit's deadline has passed.
	ReasonEIP2612DeadlineExpired Reason = "eip2612_deadline_expired"
)

// Codes of the EVM "upto" scheme (the payer authorizes a maximum through
// Permit2; the server settles what was used): the spec's one code
// (settlement exceeds amount) and those @x402/evm 2.27 emits, character for
// character. The checks an "upto" payment shares with every Permit2 payment
// (spender, recipient, deadline, validAfter, token, amount, signature,
// allowance, balance) answer with the Permit2 codes above.
const (
	// ReasonUptoScheme: the payment or the requirements are not "upto".
	ReasonUptoScheme Reason = "invalid_upto_evm_scheme"
	// ReasonUptoNetworkMismatch: the payment is for another network than
	// the requirements, or than the facilitator serves.
	ReasonUptoNetworkMismatch Reason = "invalid_upto_evm_network_mismatch"
	// ReasonUptoSettlementExceedsAmount: the amount to settle (the
	// settle-time requirements' amount) is more than the payer authorized
	// (permit2Authorization.permitted.amount).
	ReasonUptoSettlementExceedsAmount Reason = "invalid_upto_evm_payload_settlement_exceeds_amount"
	// ReasonUptoAmountExceedsPermitted: the upto proxy reverted with
	// AmountExceedsPermitted.
	ReasonUptoAmountExceedsPermitted Reason = "upto_amount_exceeds_permitted"
	// ReasonUptoUnauthorizedFacilitator: the upto proxy reverted with
	// UnauthorizedFacilitator (the sender is not witness.facilitator).
	ReasonUptoUnauthorizedFacilitator Reason = "upto_unauthorized_facilitator"
	// ReasonUptoFacilitatorMismatch: the authorization's
	// witness.facilitator is not an address this facilitator settles
	// from; the proxy would refuse its settlement.
	ReasonUptoFacilitatorMismatch Reason = "upto_facilitator_mismatch"
	// ReasonUptoTransactionFailed: the "upto" settlement was mined and
	// reverted (@x402/evm 2.27).
	ReasonUptoTransactionFailed Reason = "invalid_upto_evm_transaction_failed"
)

// Codes of the Solana "exact" scheme (v2 and legacy v1).
const (
	ReasonExactSVMTransaction                Reason = "invalid_exact_svm_payload_transaction"
	ReasonExactSVMTransactionNotDecoded      Reason = "invalid_exact_svm_payload_transaction_could_not_be_decoded"
	ReasonExactSVMAmountMismatch             Reason = "invalid_exact_svm_payload_amount_mismatch"
	ReasonExactSVMMintMismatch               Reason = "invalid_exact_svm_payload_mint_mismatch"
	ReasonExactSVMRecipientMismatch          Reason = "invalid_exact_svm_payload_recipient_mismatch"
	ReasonExactSVMMissingFeePayer            Reason = "invalid_exact_svm_payload_missing_fee_payer"
	ReasonExactSVMSimulationFailed           Reason = "invalid_exact_svm_payload_transaction_simulation_failed"
	ReasonSettleExactSVMBlockHeightExceeded  Reason = "settle_exact_svm_block_height_exceeded"
	ReasonSettleExactSVMConfirmationTimedOut Reason = "settle_exact_svm_transaction_confirmation_timed_out"
)

// Codes of the legacy v1 TypeScript packages and the Go SDK's core.
const (
	ReasonInvalidPayment          Reason = "invalid_payment"
	ReasonPaymentExpired          Reason = "payment_expired"
	ReasonPaymentRequired         Reason = "payment_required"
	ReasonNetworkMismatch         Reason = "network_mismatch"
	ReasonSchemeMismatch          Reason = "scheme_mismatch"
	ReasonSignatureInvalid        Reason = "signature_invalid"
	ReasonSettlementFailed        Reason = "settlement_failed"
	ReasonUnsupportedNetwork      Reason = "unsupported_network"
	ReasonInvalidVersion          Reason = "invalid_version"
	ReasonInvalidV1Payload        Reason = "invalid_v1_payload"
	ReasonInvalidV1Requirements   Reason = "invalid_v1_requirements"
	ReasonInvalidV2Payload        Reason = "invalid_v2_payload"
	ReasonInvalidV2Requirements   Reason = "invalid_v2_requirements"
	ReasonNoFacilitatorForNetwork Reason = "no_facilitator_for_network"
	ReasonInvalidResponse         Reason = "invalid_response"
)

// Codes of the resource-server lifecycle hooks in the reference SDKs.
const (
	ReasonBeforeVerifyHookError Reason = "before_verify_hook_error"
	ReasonBeforeSettleHookError Reason = "before_settle_hook_error"
)

// ReasonSettlementPending means a settlement transaction was broadcast but
// its receipt was not seen before the deadline; the transaction hash is in
// the response and the outcome will be known later. It is not a failure to
// pay again for.
const ReasonSettlementPending Reason = "settlement_pending"

// ReasonPayerHasUnsettledPayment is go402's answer (the error of a 402) to a
// payment on a serve-then-settle route from a payer who already has as many
// payments served and not yet settled as the server allows: the facilitator
// does not reserve a payer's funds between verifying and settling, so
// serving more could serve responses that can never be paid. The payer can
// pay again once the earlier payments settled.
const ReasonPayerHasUnsettledPayment Reason = "payer_has_unsettled_payment"
