// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title Multicall3
/// @notice A small call batcher for go402's devnet, ABI-compatible with the
/// widely deployed Multicall3 for aggregate3, tryAggregate, getBlockNumber
/// and getCurrentBlockTimestamp only. It lets a relayer settle several
/// EIP-3009 authorizations in one transaction. Development and tests only.
/// @dev It has no constructor, immutables or storage: its runtime code is
/// placed directly in the devnet's genesis at the canonical Multicall3
/// address. Calls are made with msg.sender = this contract, so it suits
/// calls that do not depend on the caller, such as transferWithAuthorization.
/// Ether sent with aggregate3 or tryAggregate is not forwarded and stays here.
contract Multicall3 {
    /// @notice One call of a batch.
    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }

    /// @notice The outcome of one call: its success flag and its return
    /// data (the revert data when it failed).
    struct Result {
        bool success;
        bytes returnData;
    }

    /// @notice Calls every target in order. If a call fails and its
    /// allowFailure is false, the whole batch reverts with
    /// Error("Multicall3: call failed"); otherwise every outcome is returned.
    function aggregate3(Call3[] calldata calls) external payable returns (Result[] memory returnData) {
        uint256 n = calls.length;
        returnData = new Result[](n);
        for (uint256 i; i < n;) {
            Call3 calldata c = calls[i];
            (bool success, bytes memory ret) = c.target.call(c.callData);
            if (!(success || c.allowFailure)) {
                revert("Multicall3: call failed");
            }
            // Fill the element allocated above rather than allocating another.
            Result memory r = returnData[i];
            r.success = success;
            r.returnData = ret;
            unchecked {
                ++i;
            }
        }
    }

    /// @notice One call of a tryAggregate batch.
    struct Call {
        address target;
        bytes callData;
    }

    /// @notice Calls every target in order, like aggregate3 with one failure
    /// policy for the whole batch: with requireSuccess a failing call reverts
    /// it with Error("Multicall3: call failed"), without it every outcome is
    /// returned. The x402 TypeScript packages read chain state through it.
    function tryAggregate(bool requireSuccess, Call[] calldata calls)
        external
        payable
        returns (Result[] memory returnData)
    {
        uint256 n = calls.length;
        returnData = new Result[](n);
        for (uint256 i; i < n;) {
            Call calldata c = calls[i];
            (bool success, bytes memory ret) = c.target.call(c.callData);
            if (requireSuccess && !success) {
                revert("Multicall3: call failed");
            }
            Result memory r = returnData[i];
            r.success = success;
            r.returnData = ret;
            unchecked {
                ++i;
            }
        }
    }

    /// @notice The current block number.
    function getBlockNumber() external view returns (uint256 blockNumber) {
        blockNumber = block.number;
    }

    /// @notice The current block's timestamp.
    function getCurrentBlockTimestamp() external view returns (uint256 timestamp) {
        timestamp = block.timestamp;
    }
}
