// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title SmartWallet
/// @notice A minimal smart-contract wallet for go402's devnet and tests: one
/// owner key, EIP-1271 signature validation and an owner-only execute.
/// Development and tests only.
/// @dev isValidSignature accepts exactly the owner's 65-byte ECDSA signature
/// over the hash as given (no re-hashing, no wrapping), so the EIP-712 digest
/// a token checks is what the owner signs. The owner can rotate the key with
/// setOwner; setting it to the zero address makes the wallet refuse every
/// signature, which is how a test gets a wallet that "says no".
contract SmartWallet is IERC1271 {
    /// @notice The EIP-1271 magic value, isValidSignature's selector.
    bytes4 internal constant MAGIC_VALUE = 0x1626ba7e;
    /// @notice What isValidSignature returns for a signature it refuses.
    bytes4 internal constant INVALID_VALUE = 0xffffffff;

    /// @notice The key whose signatures the wallet accepts.
    address public owner;

    /// @notice The owner changed (from the zero address at creation).
    event OwnerChanged(address indexed previousOwner, address indexed newOwner);

    /// @notice The caller is not the owner.
    error NotOwner(address caller);
    /// @notice A call made by execute reverted; its revert data is attached.
    error CallFailed(bytes returnData);

    constructor(address initialOwner) {
        owner = initialOwner;
        emit OwnerChanged(address(0), initialOwner);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /// @notice Accepts ether.
    receive() external payable {}

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        address current = owner;
        if (current == address(0)) return INVALID_VALUE;
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == current) return MAGIC_VALUE;
        return INVALID_VALUE;
    }

    /// @notice Rotates the owner key; the zero address revokes every
    /// signature (and execute) for good.
    function setOwner(address newOwner) external onlyOwner {
        emit OwnerChanged(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Calls target with value and data, as the wallet.
    function execute(address target, uint256 value, bytes calldata data) external onlyOwner returns (bytes memory) {
        (bool ok, bytes memory ret) = target.call{value: value}(data);
        if (!ok) revert CallFailed(ret);
        return ret;
    }
}
