// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title TestPermitToken
/// @notice A plain ERC-20 for local development and tests of go402, paid
/// through Permit2 rather than EIP-3009: six decimals, EIP-2612 permit (so a
/// payer can approve Permit2 without gas), an owner-only mint, and no
/// EIP-3009. It has no value and must never be deployed to a real network.
/// @dev The EIP-712 domain of permit is (name, version "1", chainId,
/// verifyingContract); version() returns that version.
contract TestPermitToken is ERC20Permit, Ownable {
    /// @param name_ ERC-20 name and EIP-712 domain name.
    /// @param symbol_ ERC-20 symbol.
    /// @param owner_ The only account allowed to mint.
    constructor(string memory name_, string memory symbol_, address owner_)
        ERC20(name_, symbol_)
        ERC20Permit(name_)
        Ownable(owner_)
    {}

    /// @notice Six decimals, like USDC.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice The EIP-712 domain version of permit: "1".
    function version() external pure returns (string memory) {
        return "1";
    }

    /// @notice Create `amount` atomic units for `to`. Owner only.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
