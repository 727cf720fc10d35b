// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IDepositCollector
/// @notice The pluggable deposit pull used by go402's x402BatchSettlement,
/// call-compatible with the x402 batch-settlement collectors: the settlement
/// contract calls collect and afterwards checks that its own token balance
/// grew by exactly `amount`. Development and tests only.
interface IDepositCollector {
    /// @notice Moves `amount` of `token` from `payer` to the calling
    /// settlement contract for the channel `channelId`.
    /// @param collectorData collector-specific authorization data.
    function collect(address payer, address token, uint256 amount, bytes32 channelId, bytes calldata collectorData)
        external;
}
