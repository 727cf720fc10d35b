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
	// ReasonExactEVMAuthorizationValue is what earlier @x402/evm 2.x
	// releases answered for a value that differs from the amount.
	ReasonExactEVMAuthorizationValue Reason = "invalid_exact_evm_authorization_value"
	// ReasonExactEVMValueMismatch is the code for that check in the v2 spec,
	// the Go SDK and @x402/evm 2.27; go402 emits it.
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

// Codes of the EVM "upto" scheme.
const (
	ReasonUptoScheme                  Reason = "invalid_upto_evm_scheme"
	ReasonUptoNetworkMismatch         Reason = "invalid_upto_evm_network_mismatch"
	ReasonUptoSettlementExceedsAmount Reason = "invalid_upto_evm_payload_settlement_exceeds_amount"
	ReasonUptoAmountExceedsPermitted  Reason = "upto_amount_exceeds_permitted"
	ReasonUptoUnauthorizedFacilitator Reason = "upto_unauthorized_facilitator"
	ReasonUptoFacilitatorMismatch     Reason = "upto_facilitator_mismatch"
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
