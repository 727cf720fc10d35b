// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ISignatureTransfer} from "src/ISignatureTransfer.sol";
import {x402Permit2ProxyBase} from "src/x402Permit2ProxyBase.sol";

/// @title x402UptoPermit2Proxy
/// @notice go402's x402 `upto` Permit2 proxy: the payer signs a Permit2
/// PermitWitnessTransferFrom for a maximum, with this contract as spender
/// and a witness naming the destination, the one facilitator allowed to
/// settle and the earliest settlement time; that facilitator later settles
/// what was actually used, any non-zero amount up to the maximum. Same
/// functions, events and custom errors as the x402 reference proxy at
/// 0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002, where the devnet places it.
/// Development and tests only.
contract x402UptoPermit2Proxy is x402Permit2ProxyBase {
    /// @notice The witness part of the Permit2 type string.
    string public constant WITNESS_TYPE_STRING =
        "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)";

    /// @notice keccak256 of the Witness struct type.
    bytes32 public constant WITNESS_TYPEHASH = keccak256("Witness(address to,address facilitator,uint256 validAfter)");

    /// @notice msg.sender is not the witness's facilitator.
    error UnauthorizedFacilitator();
    /// @notice The amount to settle is above the permitted maximum.
    error AmountExceedsPermitted();

    /// @notice What the payer signs besides the permit.
    struct Witness {
        address to;
        address facilitator;
        uint256 validAfter;
    }

    /// @notice Settles `amount` (0 < amount <= permitted); the payer has
    /// already approved PERMIT2. Only witness.facilitator may call it.
    function settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external nonReentrant {
        _authorize(permit, amount, witness);
        _settleUpto(permit, amount, owner, witness, signature);
        emit Settled();
    }

    /// @notice Like settle, after submitting the payer's EIP-2612 permit
    /// approving PERMIT2 (a failing one is tolerated, see
    /// EIP2612PermitFailedWith*). The permit's value must be the permitted
    /// maximum, not `amount`.
    function settleWithPermit(
        EIP2612Permit calldata permit2612,
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external nonReentrant {
        _authorize(permit, amount, witness);
        _permit2612(permit.permitted.token, owner, permit2612, permit.permitted.amount);
        _settleUpto(permit, amount, owner, witness, signature);
        emit SettledWithPermit();
    }

    /// @dev The upto checks, in the reference order: amount, then caller.
    function _authorize(ISignatureTransfer.PermitTransferFrom calldata permit, uint256 amount, Witness calldata witness)
        private
        view
    {
        if (amount > permit.permitted.amount) revert AmountExceedsPermitted();
        if (msg.sender != witness.facilitator) revert UnauthorizedFacilitator();
    }

    function _settleUpto(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) private {
        bytes32 witnessHash =
            keccak256(abi.encode(WITNESS_TYPEHASH, witness.to, witness.facilitator, witness.validAfter));
        _transfer(permit, amount, owner, witness.to, witness.validAfter, witnessHash, WITNESS_TYPE_STRING, signature);
    }
}
