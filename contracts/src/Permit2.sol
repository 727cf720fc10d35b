// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {ISignatureTransfer} from "src/ISignatureTransfer.sol";

/// @title Permit2
/// @notice go402's implementation of the signature-transfer subset of
/// Uniswap's Permit2 that the x402 Permit2 proxies use: the EIP-712 domain
/// separator, the unordered nonce bitmap and its invalidation, and the
/// single-token permitTransferFrom / permitWitnessTransferFrom. Functions,
/// event, custom errors and signed messages are those of the canonical
/// Permit2, so signatures made for it verify here. There is no
/// AllowanceTransfer and no batch transfer. Development and tests only.
///
/// Signatures are checked like the canonical one does: an owner without
/// code must have signed with its key (65-byte r,s,v or 64-byte EIP-2098
/// r,vs signatures); an owner with code (a smart-contract wallet) is asked
/// through EIP-1271 isValidSignature.
///
/// @dev No constructor, immutables or storage initialisation: the devnet
/// places the runtime code in genesis at the canonical Permit2 address, so
/// the domain separator {name: "Permit2", chainId, verifyingContract} (no
/// version) is computed from block.chainid and address(this).
contract Permit2 is ISignatureTransfer {
    /// @notice The permit's deadline `signatureDeadline` has passed.
    error SignatureExpired(uint256 signatureDeadline);
    /// @notice The permit's nonce is already spent.
    error InvalidNonce();
    /// @notice A signature for an owner without code is neither 64 nor 65
    /// bytes long.
    error InvalidSignatureLength();
    /// @notice ecrecover found no signer (a malformed signature).
    error InvalidSignature();
    /// @notice The signature was made by another key than the owner's.
    error InvalidSigner();
    /// @notice The owner's EIP-1271 isValidSignature did not accept it.
    error InvalidContractSignature();

    bytes32 private constant DOMAIN_TYPEHASH = keccak256("EIP712Domain(string name,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("Permit2");
    bytes32 private constant TOKEN_PERMISSIONS_TYPEHASH = keccak256("TokenPermissions(address token,uint256 amount)");
    bytes32 private constant PERMIT_TRANSFER_FROM_TYPEHASH = keccak256(
        "PermitTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline)TokenPermissions(address token,uint256 amount)"
    );
    /// @dev The witness type hash is keccak256 of this prefix followed by the
    /// caller's witnessTypeString.
    bytes private constant WITNESS_TYPE_PREFIX =
        "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,";

    /// @inheritdoc ISignatureTransfer
    mapping(address => mapping(uint256 => uint256)) public nonceBitmap;

    /// @notice The EIP-712 domain separator of this chain and address.
    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, block.chainid, address(this)));
    }

    /// @notice Spends, without any transfer, the nonces of msg.sender whose
    /// bits are set in `mask` within word `wordPos`.
    function invalidateUnorderedNonces(uint256 wordPos, uint256 mask) external {
        nonceBitmap[msg.sender][wordPos] |= mask;
        emit UnorderedNonceInvalidation(msg.sender, wordPos, mask);
    }

    /// @inheritdoc ISignatureTransfer
    function permitTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(
            abi.encode(
                PERMIT_TRANSFER_FROM_TYPEHASH, _tokenPermissionsHash(permit.permitted), msg.sender, permit.nonce, permit.deadline
            )
        );
        _transfer(permit, transferDetails, owner, structHash, signature);
    }

    /// @inheritdoc ISignatureTransfer
    function permitWitnessTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes32 witness,
        string calldata witnessTypeString,
        bytes calldata signature
    ) external {
        bytes32 typeHash = keccak256(bytes.concat(WITNESS_TYPE_PREFIX, bytes(witnessTypeString)));
        bytes32 structHash = keccak256(
            abi.encode(typeHash, _tokenPermissionsHash(permit.permitted), msg.sender, permit.nonce, permit.deadline, witness)
        );
        _transfer(permit, transferDetails, owner, structHash, signature);
    }

    /// @dev The checks and effects shared by both transfers, in the
    /// canonical order: deadline, amount, nonce, signature, then the token
    /// transfer.
    function _transfer(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes32 structHash,
        bytes calldata signature
    ) private {
        if (block.timestamp > permit.deadline) revert SignatureExpired(permit.deadline);
        uint256 amount = transferDetails.requestedAmount;
        if (amount > permit.permitted.amount) revert InvalidAmount(permit.permitted.amount);
        _spendNonce(owner, permit.nonce);
        bytes32 digest = keccak256(abi.encodePacked(hex"1901", DOMAIN_SEPARATOR(), structHash));
        _checkSignature(digest, owner, signature);
        _safeTransferFrom(permit.permitted.token, owner, transferDetails.to, amount);
    }

    /// @dev Sets the nonce's bit in the owner's bitmap; reverts with
    /// InvalidNonce if it was already set.
    function _spendNonce(address owner, uint256 nonce) private {
        uint256 bit = 1 << (nonce & 0xff);
        uint256 word = nonceBitmap[owner][nonce >> 8];
        if (word & bit != 0) revert InvalidNonce();
        nonceBitmap[owner][nonce >> 8] = word | bit;
    }

    /// @dev Checks that `owner` signed `digest`: by EIP-1271 when the owner
    /// has code, else by ecrecover over a 65-byte (r,s,v) or 64-byte
    /// EIP-2098 (r,vs) signature.
    function _checkSignature(bytes32 digest, address owner, bytes calldata signature) private view {
        if (owner.code.length > 0) {
            if (IERC1271(owner).isValidSignature(digest, signature) != IERC1271.isValidSignature.selector) {
                revert InvalidContractSignature();
            }
            return;
        }
        bytes32 r;
        bytes32 s;
        uint8 v;
        if (signature.length == 65) {
            r = bytes32(signature[0:32]);
            s = bytes32(signature[32:64]);
            v = uint8(signature[64]);
        } else if (signature.length == 64) {
            r = bytes32(signature[0:32]);
            bytes32 vs = bytes32(signature[32:64]);
            s = vs & bytes32(uint256(type(uint256).max >> 1));
            v = uint8(uint256(vs >> 255)) + 27;
        } else {
            revert InvalidSignatureLength();
        }
        address signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert InvalidSignature();
        if (signer != owner) revert InvalidSigner();
    }

    /// @dev transferFrom that accepts tokens returning true or nothing and
    /// reverts with Error("TRANSFER_FROM_FAILED"), as the canonical Permit2
    /// does, when the call reverts or returns false, or the token has no
    /// code.
    function _safeTransferFrom(address token, address from, address to, uint256 amount) private {
        (bool ok, bytes memory ret) = token.call(abi.encodeCall(IERC20.transferFrom, (from, to, amount)));
        if (!ok || (ret.length == 0 ? token.code.length == 0 : ret.length < 32 || abi.decode(ret, (uint256)) != 1)) {
            revert("TRANSFER_FROM_FAILED");
        }
    }

    function _tokenPermissionsHash(TokenPermissions calldata permitted) private pure returns (bytes32) {
        return keccak256(abi.encode(TOKEN_PERMISSIONS_TYPEHASH, permitted.token, permitted.amount));
    }
}
