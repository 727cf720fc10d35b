package x402

// Codes of the EVM "batch-settlement" scheme (payment channels with
// cumulative vouchers): the union of the codes listed by the scheme's spec
// (specs/schemes/batch-settlement/scheme_batch_settlement_evm.md) and those
// emitted by @x402/evm 2.27, character for character. Codes that only one
// of the two names are marked.
const (
	ReasonBatchAuthorizerAddressMismatch   Reason = "invalid_batch_settlement_evm_authorizer_address_mismatch"
	ReasonBatchAuthorizerNotConfigured     Reason = "invalid_batch_settlement_evm_authorizer_not_configured" // @x402/evm only
	ReasonBatchChannelBusy                 Reason = "invalid_batch_settlement_evm_channel_busy"
	ReasonBatchChannelIDMismatch           Reason = "invalid_batch_settlement_evm_channel_id_mismatch"
	ReasonBatchChannelIDInvalid            Reason = "invalid_batch_settlement_evm_channel_id_invalid" // @x402/evm only
	ReasonBatchChannelNotFound             Reason = "invalid_batch_settlement_evm_channel_not_found"
	ReasonBatchChannelStateReadFailed      Reason = "invalid_batch_settlement_evm_channel_state_read_failed" // spec only
	ReasonBatchChargeExceedsSignedCumul    Reason = "invalid_batch_settlement_evm_charge_exceeds_signed_cumulative"
	ReasonBatchClaimPayload                Reason = "invalid_batch_settlement_evm_claim_payload" // spec only
	ReasonBatchClaimSimulationFailed       Reason = "invalid_batch_settlement_evm_claim_simulation_failed"
	ReasonBatchClaimTransactionFailed      Reason = "invalid_batch_settlement_evm_claim_transaction_failed"
	ReasonBatchCumulativeAmountMismatch    Reason = "invalid_batch_settlement_evm_cumulative_amount_mismatch"
	ReasonBatchCumulativeBelowClaimed      Reason = "invalid_batch_settlement_evm_cumulative_below_claimed"
	ReasonBatchCumulativeExceedsBalance    Reason = "invalid_batch_settlement_evm_cumulative_exceeds_balance"
	ReasonBatchDepositBelowMinDeposit      Reason = "invalid_batch_settlement_evm_deposit_below_min_deposit" // @x402/evm only
	ReasonBatchDepositPayload              Reason = "invalid_batch_settlement_evm_deposit_payload"           // spec only
	ReasonBatchDepositSimulationFailed     Reason = "invalid_batch_settlement_evm_deposit_simulation_failed"
	ReasonBatchDepositTransactionFailed    Reason = "invalid_batch_settlement_evm_deposit_transaction_failed"
	ReasonBatchEIP2612AmountMismatch       Reason = "invalid_batch_settlement_evm_eip2612_amount_mismatch"
	ReasonBatchEIP2612AssetMismatch        Reason = "invalid_batch_settlement_evm_eip2612_asset_mismatch"          // spec only
	ReasonBatchEIP2612DeadlineExpired      Reason = "invalid_batch_settlement_evm_eip2612_deadline_expired"        // spec only
	ReasonBatchEIP2612InvalidFormat        Reason = "invalid_batch_settlement_evm_eip2612_invalid_format"          // spec only
	ReasonBatchEIP2612InvalidSignature     Reason = "invalid_batch_settlement_evm_eip2612_invalid_signature"       // spec only
	ReasonBatchEIP2612OwnerMismatch        Reason = "invalid_batch_settlement_evm_eip2612_owner_mismatch"          // spec only
	ReasonBatchEIP2612SpenderMismatch      Reason = "invalid_batch_settlement_evm_eip2612_spender_mismatch"        // spec only
	ReasonBatchEIP6492FactoryNotAllowed    Reason = "invalid_batch_settlement_evm_eip6492_factory_not_allowed"     // @x402/evm only
	ReasonBatchERC20ApprovalAssetMismatch  Reason = "invalid_batch_settlement_evm_erc20_approval_asset_mismatch"   // spec only
	ReasonBatchERC20ApprovalBroadcastFail  Reason = "invalid_batch_settlement_evm_erc20_approval_broadcast_failed" // spec only
	ReasonBatchERC20ApprovalFromMismatch   Reason = "invalid_batch_settlement_evm_erc20_approval_from_mismatch"    // spec only
	ReasonBatchERC20ApprovalInvalidFormat  Reason = "invalid_batch_settlement_evm_erc20_approval_invalid_format"   // spec only
	ReasonBatchERC20ApprovalUnavailable    Reason = "invalid_batch_settlement_evm_erc20_approval_unavailable"
	ReasonBatchERC20ApprovalWrongSpender   Reason = "invalid_batch_settlement_evm_erc20_approval_wrong_spender" // spec only
	ReasonBatchERC3009AuthorizationNeeded  Reason = "invalid_batch_settlement_evm_erc3009_authorization_required"
	ReasonBatchInsufficientBalance         Reason = "invalid_batch_settlement_evm_insufficient_balance"
	ReasonBatchMissingChannel              Reason = "invalid_batch_settlement_evm_missing_channel"
	ReasonBatchMissingEIP712Domain         Reason = "invalid_batch_settlement_evm_missing_eip712_domain"
	ReasonBatchNetworkMismatch             Reason = "invalid_batch_settlement_evm_network_mismatch"
	ReasonBatchNothingToSettle             Reason = "invalid_batch_settlement_evm_nothing_to_settle"
	ReasonBatchValidAfter                  Reason = "invalid_batch_settlement_evm_payload_authorization_valid_after"
	ReasonBatchValidBefore                 Reason = "invalid_batch_settlement_evm_payload_authorization_valid_before"
	ReasonBatchPayloadType                 Reason = "invalid_batch_settlement_evm_payload_type"
	ReasonBatchPermit2AllowanceRequired    Reason = "invalid_batch_settlement_evm_permit2_allowance_required"
	ReasonBatchPermit2AmountMismatch       Reason = "invalid_batch_settlement_evm_permit2_amount_mismatch"
	ReasonBatchPermit2AuthorizationNeeded  Reason = "invalid_batch_settlement_evm_permit2_authorization_required"
	ReasonBatchPermit2DeadlineExpired      Reason = "invalid_batch_settlement_evm_permit2_deadline_expired"
	ReasonBatchPermit2InvalidSignature     Reason = "invalid_batch_settlement_evm_permit2_invalid_signature"
	ReasonBatchPermit2InvalidSpender       Reason = "invalid_batch_settlement_evm_permit2_invalid_spender"
	ReasonBatchReceiveAuthSignature        Reason = "invalid_batch_settlement_evm_receive_authorization_signature"
	ReasonBatchReceiverAuthorizerMismatch  Reason = "invalid_batch_settlement_evm_receiver_authorizer_mismatch"
	ReasonBatchReceiverMismatch            Reason = "invalid_batch_settlement_evm_receiver_mismatch"
	ReasonBatchRefundAmountInvalid         Reason = "invalid_batch_settlement_evm_refund_amount_invalid"
	ReasonBatchRefundNoBalance             Reason = "invalid_batch_settlement_evm_refund_no_balance"
	ReasonBatchRefundPayload               Reason = "invalid_batch_settlement_evm_refund_payload"
	ReasonBatchRefundSimulationFailed      Reason = "invalid_batch_settlement_evm_refund_simulation_failed"
	ReasonBatchRefundTransactionFailed     Reason = "invalid_batch_settlement_evm_refund_transaction_failed"
	ReasonBatchRPCReadFailed               Reason = "invalid_batch_settlement_evm_rpc_read_failed"
	ReasonBatchScheme                      Reason = "invalid_batch_settlement_evm_scheme"
	ReasonBatchSettlePayload               Reason = "invalid_batch_settlement_evm_settle_payload" // spec only
	ReasonBatchSettleSimulationFailed      Reason = "invalid_batch_settlement_evm_settle_simulation_failed"
	ReasonBatchSettleTransactionFailed     Reason = "invalid_batch_settlement_evm_settle_transaction_failed"
	ReasonBatchSmartWalletDeploymentFailed Reason = "invalid_batch_settlement_evm_smart_wallet_deployment_failed" // @x402/evm only
	ReasonBatchTokenMismatch               Reason = "invalid_batch_settlement_evm_token_mismatch"
	ReasonBatchTransactionReverted         Reason = "invalid_batch_settlement_evm_transaction_reverted"           // spec only
	ReasonBatchUnknownSettleAction         Reason = "invalid_batch_settlement_evm_unknown_settle_action"          // spec only
	ReasonBatchVerificationStateUnavail    Reason = "invalid_batch_settlement_evm_verification_state_unavailable" // @x402/evm only
	ReasonBatchVoucherPayload              Reason = "invalid_batch_settlement_evm_voucher_payload"                // spec only
	ReasonBatchVoucherSignature            Reason = "invalid_batch_settlement_evm_voucher_signature"
	ReasonBatchWaitForReceiptFailed        Reason = "invalid_batch_settlement_evm_wait_for_receipt_failed" // spec only
	ReasonBatchWithdrawDelayMismatch       Reason = "invalid_batch_settlement_evm_withdraw_delay_mismatch"
	ReasonBatchWithdrawDelayOutOfRange     Reason = "invalid_batch_settlement_evm_withdraw_delay_out_of_range"
)
