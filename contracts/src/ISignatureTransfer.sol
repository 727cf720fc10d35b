// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title ISignatureTransfer
/// @notice The single-token signature-transfer part of Uniswap's Permit2, as
/// go402's Permit2 implements it and the x402 Permit2 proxies call it. The
/// structs, functions, event and errors have the types (and so the
/// selectors) of the canonical Permit2 at
/// 0x000000000022D473030F116dDEE9F6B43aC78BA3.
interface ISignatureTransfer {
    /// @notice A token and the most the spender may move of it.
    struct TokenPermissions {
        address token;
        uint256 amount;
    }

    /// @notice What an owner signs for one transfer: the token permissions,
    /// an unordered nonce (a bit of the owner's nonce bitmap) and a deadline.
    struct PermitTransferFrom {
        TokenPermissions permitted;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice Chosen by the spender at transfer time: where the tokens go
    /// and how many (at most permitted.amount).
    struct SignatureTransferDetails {
        address to;
        uint256 requestedAmount;
    }

    /// @notice Some of an owner's nonces were spent without a transfer.
    event UnorderedNonceInvalidation(address indexed owner, uint256 word, uint256 mask);

    /// @notice The requested amount is above the signed maximum `maxAmount`.
    error InvalidAmount(uint256 maxAmount);

    /// @notice The nonce bitmap word `wordPos` of `owner`: bit i set means
    /// nonce wordPos*256+i is spent.
    function nonceBitmap(address owner, uint256 wordPos) external view returns (uint256);

    /// @notice Moves tokens of `owner` under a signed PermitTransferFrom
    /// whose spender is msg.sender.
    function permitTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes calldata signature
    ) external;

    /// @notice Moves tokens of `owner` under a signed
    /// PermitWitnessTransferFrom whose spender is msg.sender; `witness` is
    /// the EIP-712 hash of the spender's extra struct and
    /// `witnessTypeString` the rest of the type string after
    /// "...,uint256 deadline,".
    function permitWitnessTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes32 witness,
        string calldata witnessTypeString,
        bytes calldata signature
    ) external;
}
