// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Create2} from "@openzeppelin/contracts/utils/Create2.sol";
import {SmartWallet} from "src/SmartWallet.sol";

/// @title SmartWalletFactory
/// @notice Deploys go402's SmartWallet with CREATE2, so that a wallet's
/// address is known before it exists and its owner can sign ERC-6492
/// counterfactual signatures naming this factory and createAccount's
/// calldata. Development and tests only.
/// @dev No constructor, immutables or storage: the devnet places its runtime
/// code directly in genesis. createAccount is permissionless and idempotent
/// (it returns the existing wallet instead of reverting), so a relayer that
/// races another deployer of the same wallet does not fail.
contract SmartWalletFactory {
    /// @notice A wallet was deployed.
    event AccountCreated(address indexed account, address indexed owner, uint256 salt);

    /// @notice Deploys the wallet of owner and salt unless it exists, and
    /// returns its address.
    function createAccount(address owner, uint256 salt) external returns (address account) {
        account = getAddress(owner, salt);
        if (account.code.length > 0) return account;
        SmartWallet wallet = new SmartWallet{salt: bytes32(salt)}(owner);
        account = address(wallet);
        emit AccountCreated(account, owner, salt);
    }

    /// @notice The address createAccount(owner, salt) deploys to.
    function getAddress(address owner, uint256 salt) public view returns (address) {
        bytes32 codeHash = keccak256(abi.encodePacked(type(SmartWallet).creationCode, abi.encode(owner)));
        return Create2.computeAddress(bytes32(salt), codeHash);
    }
}
