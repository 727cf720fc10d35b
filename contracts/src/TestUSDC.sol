// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {EIP3009} from "./EIP3009.sol";

/// @title TestUSDC
/// @notice A USDC-like token for local development and tests of go402: six
/// decimals, EIP-3009 transfer/receive/cancel with authorization, and an
/// owner-only mint. It has no value and must never be deployed to a real
/// network.
/// @dev The EIP-712 domain is (name, version, chainId, verifyingContract),
/// with name and version chosen at deployment, so the same bytecode can mirror
/// the domain of USDC on any chain (e.g. "USDC"/"2" or "USD Coin"/"2").
contract TestUSDC is EIP3009, Ownable {
    /// @param name_ ERC-20 name and EIP-712 domain name.
    /// @param symbol_ ERC-20 symbol.
    /// @param version_ EIP-712 domain version.
    /// @param owner_ The only account allowed to mint.
    constructor(string memory name_, string memory symbol_, string memory version_, address owner_)
        ERC20(name_, symbol_)
        EIP712(name_, version_)
        Ownable(owner_)
    {}

    /// @notice USDC has six decimals.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Create `amount` atomic units for `to`. Owner only.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
