// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {ISignatureTransfer} from "src/ISignatureTransfer.sol";

/// @title x402Permit2ProxyBase
/// @notice What go402's x402 exact and upto Permit2 proxies share: the
/// Permit2 they spend through, their events and custom errors, the
/// EIP-2612 permit step of settleWithPermit and the final Permit2 witness
/// transfer. The names and types are those of the x402 reference proxies,
/// so their clients and facilitators work against these unchanged.
///
/// The proxy is the `spender` of the payer's Permit2 signature; the
/// signature also covers a witness struct naming the destination (and, for
/// upto, the facilitator), so whoever submits the payment cannot redirect
/// it.
///
/// @dev Genesis-safe: no constructor, immutables or storage. PERMIT2 is the
/// canonical Permit2 address as a constant (the reference proxies take it as
/// a constructor argument and keep it immutable, which is why they declare
/// InvalidPermit2Address; here it can never be raised). The reentrancy
/// guard lives in EIP-1153 transient storage.
abstract contract x402Permit2ProxyBase is ReentrancyGuardTransient {
    /// @notice The canonical Permit2 contract.
    ISignatureTransfer public constant PERMIT2 = ISignatureTransfer(0x000000000022D473030F116dDEE9F6B43aC78BA3);

    /// @notice settle completed.
    event Settled();
    /// @notice settleWithPermit completed.
    event SettledWithPermit();
    /// @notice The token's EIP-2612 permit reverted with Error(reason); the
    /// settlement went on (the allowance may already be in place).
    event EIP2612PermitFailedWithReason(address indexed token, address indexed owner, string reason);
    /// @notice The token's EIP-2612 permit reverted with Panic(errorCode).
    event EIP2612PermitFailedWithPanic(address indexed token, address indexed owner, uint256 errorCode);
    /// @notice The token's EIP-2612 permit reverted with other data (a
    /// custom error, or nothing).
    event EIP2612PermitFailedWithData(address indexed token, address indexed owner, bytes data);

    /// @notice A zero Permit2 address (declared for ABI compatibility; never
    /// raised, PERMIT2 is a constant).
    error InvalidPermit2Address();
    /// @notice The witness destination is the zero address.
    error InvalidDestination();
    /// @notice block.timestamp is before the witness's validAfter.
    error PaymentTooEarly();
    /// @notice The owner is the zero address.
    error InvalidOwner();
    /// @notice The amount to settle is zero.
    error InvalidAmount();
    /// @notice The EIP-2612 permit's value is not the Permit2 permitted
    /// amount.
    error Permit2612AmountMismatch();

    /// @notice An EIP-2612 permit of the payer approving PERMIT2 for `value`.
    struct EIP2612Permit {
        uint256 value;
        uint256 deadline;
        bytes32 r;
        bytes32 s;
        uint8 v;
    }

    /// @dev Submits the payer's EIP-2612 permit approving PERMIT2. Its value
    /// must equal the Permit2 permitted amount. A permit that reverts (already
    /// used by a front-runner, or a token without EIP-2612) is reported by an
    /// event and does not stop the settlement: if the allowance is missing,
    /// the Permit2 transfer fails instead.
    function _permit2612(address token, address owner, EIP2612Permit calldata p, uint256 permitted) internal {
        if (p.value != permitted) revert Permit2612AmountMismatch();
        try IERC20Permit(token).permit(owner, address(PERMIT2), p.value, p.deadline, p.v, p.r, p.s) {}
        catch Error(string memory reason) {
            emit EIP2612PermitFailedWithReason(token, owner, reason);
        } catch Panic(uint256 code) {
            emit EIP2612PermitFailedWithPanic(token, owner, code);
        } catch (bytes memory data) {
            emit EIP2612PermitFailedWithData(token, owner, data);
        }
    }

    /// @dev Checks the common settlement parameters (in the reference order:
    /// amount, owner, destination, validAfter) and moves `amount` from
    /// `owner` to `to` through PERMIT2.permitWitnessTransferFrom, which
    /// checks the deadline, the nonce and the signature over the permit and
    /// the witness.
    function _transfer(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        address to,
        uint256 validAfter,
        bytes32 witnessHash,
        string memory witnessTypeString,
        bytes calldata signature
    ) internal {
        if (amount == 0) revert InvalidAmount();
        if (owner == address(0)) revert InvalidOwner();
        if (to == address(0)) revert InvalidDestination();
        if (block.timestamp < validAfter) revert PaymentTooEarly();
        PERMIT2.permitWitnessTransferFrom(
            permit,
            ISignatureTransfer.SignatureTransferDetails({to: to, requestedAmount: amount}),
            owner,
            witnessHash,
            witnessTypeString,
            signature
        );
    }
}
