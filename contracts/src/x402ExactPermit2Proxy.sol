// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ISignatureTransfer} from "src/ISignatureTransfer.sol";
import {x402Permit2ProxyBase} from "src/x402Permit2ProxyBase.sol";

/// @title x402ExactPermit2Proxy
/// @notice go402's x402 `exact` Permit2 proxy: settles a payer's Permit2
/// PermitWitnessTransferFrom whose spender is this contract, moving exactly
/// the permitted amount to the witness destination `to`, not before
/// `validAfter`. Same functions, events and custom errors as the x402
/// reference proxy at 0x402085c248EeA27D92E8b30b2C58ed07f9E20001, where the
/// devnet places it. Development and tests only.
contract x402ExactPermit2Proxy is x402Permit2ProxyBase {
    /// @notice The witness part of the Permit2 type string.
    string public constant WITNESS_TYPE_STRING =
        "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)";

    /// @notice keccak256 of the Witness struct type.
    bytes32 public constant WITNESS_TYPEHASH = keccak256("Witness(address to,uint256 validAfter)");

    /// @notice What the payer signs besides the permit: the destination and
    /// the earliest settlement time.
    struct Witness {
        address to;
        uint256 validAfter;
    }

    /// @notice Settles the payment; the payer has already approved PERMIT2.
    function settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external nonReentrant {
        _settleExact(permit, owner, witness, signature);
        emit Settled();
    }

    /// @notice Submits the payer's EIP-2612 permit approving PERMIT2 (a
    /// failing one is tolerated, see EIP2612PermitFailedWith*), then settles.
    function settleWithPermit(
        EIP2612Permit calldata permit2612,
        ISignatureTransfer.PermitTransferFrom calldata permit,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external nonReentrant {
        _permit2612(permit.permitted.token, owner, permit2612, permit.permitted.amount);
        _settleExact(permit, owner, witness, signature);
        emit SettledWithPermit();
    }

    function _settleExact(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) private {
        bytes32 witnessHash = keccak256(abi.encode(WITNESS_TYPEHASH, witness.to, witness.validAfter));
        _transfer(
            permit, permit.permitted.amount, owner, witness.to, witness.validAfter, witnessHash, WITNESS_TYPE_STRING, signature
        );
    }
}
