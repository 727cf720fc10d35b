// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IDepositCollector} from "src/IDepositCollector.sol";

/// @notice The one EIP-3009 entry point the collector needs: the
/// bytes-signature form of receiveWithAuthorization (USDC v2.2 and TestUSDC).
interface IReceiveWithAuthorization {
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external;
}

/// @title ERC3009DepositCollector
/// @notice go402's deposit collector for x402 batch-settlement channels,
/// call-compatible with the x402 ERC-3009 collector: the payer signs an
/// EIP-3009 ReceiveWithAuthorization to this contract, the settlement
/// contract asks for the deposit, and the collector redeems the authorization
/// and passes the tokens on. Development and tests only.
/// @dev No constructor, immutables or storage: its runtime code is placed
/// directly in the devnet's genesis, and the settlement contract it serves is
/// a constant (the canonical x402BatchSettlement address).
///
/// collectorData is abi.encode(uint256 validAfter, uint256 validBefore,
/// uint256 salt, bytes signature); the authorization nonce is
/// keccak256(abi.encode(channelId, salt)), which binds the payer's signature
/// to one channel.
contract ERC3009DepositCollector is IDepositCollector {
    using SafeERC20 for IERC20;

    /// @notice The only caller allowed to collect.
    address public constant x402BatchSettlement = 0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003;

    /// @notice collect was called by someone other than x402BatchSettlement.
    error OnlyX402BatchSettlement();

    /// @notice Part of the reference collector's interface, raised there by a
    /// constructor given the zero address. This collector has no constructor,
    /// so it never raises it.
    error InvalidX402BatchSettlementAddress();

    /// @inheritdoc IDepositCollector
    function collect(address payer, address token, uint256 amount, bytes32 channelId, bytes calldata collectorData)
        external
    {
        if (msg.sender != x402BatchSettlement) revert OnlyX402BatchSettlement();
        (uint256 validAfter, uint256 validBefore, uint256 salt, bytes memory signature) =
            abi.decode(collectorData, (uint256, uint256, uint256, bytes));
        bytes32 nonce = keccak256(abi.encode(channelId, salt));
        IReceiveWithAuthorization(token).receiveWithAuthorization(
            payer, address(this), amount, validAfter, validBefore, nonce, signature
        );
        IERC20(token).safeTransfer(msg.sender, amount);
    }
}
