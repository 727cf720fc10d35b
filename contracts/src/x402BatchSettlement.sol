// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

import {IDepositCollector} from "src/IDepositCollector.sol";

/// @title x402BatchSettlement
/// @notice go402's escrow for the x402 `batch-settlement` scheme: payment
/// channels funded by deposits and drawn by cumulative payer vouchers. Its
/// functions, views, events and custom errors are those of the x402
/// reference contract, so the x402 clients, servers and facilitators work
/// against it unchanged. Development and tests only.
///
/// A channel is identified by the EIP-712 hash of its ChannelConfig under
/// the domain {name: "x402 Batch Settlement", version: "1", chainId,
/// verifyingContract: this}. Per channel the contract keeps the escrowed
/// `balance` (all deposits less refunds and withdrawals) and the cumulative
/// `totalClaimed` the receiver side has proven with vouchers; what the payer
/// can still take back is balance - totalClaimed. Claimed amounts accrue to
/// the (receiver, token) pair and leave the contract with settle.
///
/// @dev No constructor, immutables or storage initialisation: its runtime
/// code is placed directly in the devnet's genesis at the canonical address,
/// so the EIP-712 domain separator is computed from block.chainid and
/// address(this) when needed. The reentrancy guard uses EIP-1153 transient
/// storage (cancun).
contract x402BatchSettlement is IERC5267, Multicall, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    // ---------------------------------------------------------------------
    // Types
    // ---------------------------------------------------------------------

    /// @notice The fixed parameters of a channel; their EIP-712 hash is the
    /// channel id.
    struct ChannelConfig {
        address payer;
        address payerAuthorizer; // signs vouchers when non-zero, else the payer does
        address receiver;
        address receiverAuthorizer; // signs claim batches and refunds
        address token;
        uint40 withdrawDelay; // seconds between initiateWithdraw and finalizeWithdraw
        bytes32 salt;
    }

    /// @notice Escrow of one channel.
    struct ChannelState {
        uint128 balance;
        uint128 totalClaimed;
    }

    /// @notice A payer's timed withdrawal; initiatedAt is zero when none is pending.
    struct WithdrawalState {
        uint128 amount;
        uint40 initiatedAt;
    }

    /// @notice What a receiver has been credited and paid, per token.
    struct ReceiverState {
        uint128 totalClaimed;
        uint128 totalSettled;
    }

    /// @notice The signed content of a voucher (the channel id is hashed from
    /// `channel`).
    struct Voucher {
        ChannelConfig channel;
        uint128 maxClaimableAmount;
    }

    /// @notice A voucher, its payer signature and the cumulative total the
    /// receiver side claims with it (at most maxClaimableAmount).
    struct VoucherClaim {
        Voucher voucher;
        bytes signature;
        uint128 totalClaimed;
    }

    // ---------------------------------------------------------------------
    // Constants
    // ---------------------------------------------------------------------

    uint40 public constant MIN_WITHDRAW_DELAY = 900; // 15 minutes
    uint40 public constant MAX_WITHDRAW_DELAY = 2_592_000; // 30 days

    bytes32 public constant CHANNEL_CONFIG_TYPEHASH = keccak256(
        "ChannelConfig(address payer,address payerAuthorizer,address receiver,address receiverAuthorizer,address token,uint40 withdrawDelay,bytes32 salt)"
    );
    bytes32 public constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint128 maxClaimableAmount)");
    bytes32 public constant REFUND_TYPEHASH = keccak256("Refund(bytes32 channelId,uint256 nonce,uint128 amount)");
    bytes32 public constant CLAIM_ENTRY_TYPEHASH =
        keccak256("ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)");
    bytes32 public constant CLAIM_BATCH_TYPEHASH = keccak256(
        "ClaimBatch(ClaimEntry[] claims)ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)"
    );

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    string private constant DOMAIN_NAME = "x402 Batch Settlement";
    string private constant DOMAIN_VERSION = "1";
    bytes32 private constant DOMAIN_NAME_HASH = keccak256(bytes(DOMAIN_NAME));
    bytes32 private constant DOMAIN_VERSION_HASH = keccak256(bytes(DOMAIN_VERSION));

    // ---------------------------------------------------------------------
    // Storage
    // ---------------------------------------------------------------------

    mapping(bytes32 channelId => ChannelState) public channels;
    /// @notice The nonce the next signed refund of a channel must carry; every
    /// executed refund (direct or signed, even one that moves nothing)
    /// advances it.
    mapping(bytes32 channelId => uint256) public refundNonce;
    mapping(bytes32 channelId => WithdrawalState) public pendingWithdrawals;
    mapping(address receiver => mapping(address token => ReceiverState)) public receivers;

    // ---------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------

    event ChannelCreated(bytes32 indexed channelId, ChannelConfig config);
    event ChannelClosed(bytes32 indexed channelId, ChannelConfig config);
    event Deposited(bytes32 indexed channelId, address indexed sender, uint128 amount, uint128 newBalance);
    event Claimed(bytes32 indexed channelId, address indexed sender, uint128 claimAmount, uint128 newTotalClaimed);
    event Settled(address indexed receiver, address indexed token, address indexed sender, uint128 amount);
    event Refunded(bytes32 indexed channelId, address indexed sender, uint128 amount);
    event WithdrawInitiated(bytes32 indexed channelId, uint128 amount, uint40 finalizeAfter);
    event WithdrawFinalized(bytes32 indexed channelId, address indexed sender, uint128 amount);

    // ---------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------

    error InvalidChannel();
    error ZeroDeposit();
    error DepositOverflow();
    error InvalidSignature();
    error NotReceiverAuthorizer();
    error NotAuthorizedToClaim();
    error NotAuthorizedToRefund();
    error ClaimExceedsCeiling();
    error ClaimExceedsBalance();
    error WithdrawalAlreadyPending();
    error WithdrawalNotPending();
    error NotAuthorizedToFinalizeWithdraw();
    error WithdrawDelayNotElapsed();
    error NothingToWithdraw();
    error WithdrawAmountExceedsAvailable();
    error WithdrawDelayOutOfRange();
    error EmptyBatch();
    error DepositCollectionFailed();
    error InvalidCollector();
    error InvalidRefundNonce();
    error ZeroRefund();

    // ---------------------------------------------------------------------
    // Deposit
    // ---------------------------------------------------------------------

    /// @notice Adds `amount` to the channel of `config`, pulled from the payer
    /// by `collector` (with `collectorData`, e.g. an EIP-3009 authorization).
    /// Anybody may call it; the collector decides whose authorization counts.
    /// The first deposit into an empty, never-claimed channel emits
    /// ChannelCreated.
    function deposit(ChannelConfig calldata config, uint128 amount, address collector, bytes calldata collectorData)
        external
        nonReentrant
    {
        _requireOpenableConfig(config);
        if (amount == 0) revert ZeroDeposit();
        if (collector == address(0)) revert InvalidCollector();

        bytes32 id = _channelId(_domainSeparator(), config);
        ChannelState storage ch = channels[id];
        ChannelState memory s = ch;
        if (amount > type(uint128).max - s.balance) revert DepositOverflow();
        uint128 newBalance = s.balance + amount;
        ch.balance = newBalance; // credited before any external call

        IERC20 token = IERC20(config.token);
        uint256 held = token.balanceOf(address(this));
        IDepositCollector(collector).collect(config.payer, config.token, amount, id, collectorData);
        if (token.balanceOf(address(this)) != held + amount) revert DepositCollectionFailed();

        if (s.balance == 0 && s.totalClaimed == 0) emit ChannelCreated(id, config);
        emit Deposited(id, msg.sender, amount, newBalance);
    }

    // ---------------------------------------------------------------------
    // Claim and settle
    // ---------------------------------------------------------------------

    /// @notice Records voucher claims, sent by the receiver or the receiver
    /// authorizer of every claimed channel. A claim at or below the channel's
    /// recorded total is skipped, so replays are harmless.
    function claim(VoucherClaim[] calldata voucherClaims) external nonReentrant {
        uint256 n = voucherClaims.length;
        if (n == 0) revert EmptyBatch();
        bytes32 domain = _domainSeparator();
        for (uint256 i = 0; i < n; ++i) {
            VoucherClaim calldata vc = voucherClaims[i];
            if (!_isReceiverSide(msg.sender, vc.voucher.channel)) revert NotAuthorizedToClaim();
            _applyClaim(domain, _channelId(domain, vc.voucher.channel), vc);
        }
    }

    /// @notice Records voucher claims authorized by the receiver authorizer's
    /// EIP-712 ClaimBatch signature; anybody may relay it. Every row must name
    /// the receiver authorizer of the first.
    function claimWithSignature(VoucherClaim[] calldata voucherClaims, bytes calldata authorizerSignature)
        external
        nonReentrant
    {
        uint256 n = voucherClaims.length;
        if (n == 0) revert EmptyBatch();
        bytes32 domain = _domainSeparator();
        (bytes32 digest, bytes32[] memory ids) = _claimBatch(domain, voucherClaims);
        address authorizer = voucherClaims[0].voucher.channel.receiverAuthorizer;
        if (!SignatureChecker.isValidSignatureNow(authorizer, digest, authorizerSignature)) revert InvalidSignature();
        for (uint256 i = 0; i < n; ++i) {
            VoucherClaim calldata vc = voucherClaims[i];
            if (vc.voucher.channel.receiverAuthorizer != authorizer) revert NotReceiverAuthorizer();
            _applyClaim(domain, ids[i], vc);
        }
    }

    /// @notice Pays `receiver` everything claimed for it in `token` and not yet
    /// paid. Anybody may call it; with nothing due it does nothing.
    function settle(address receiver, address token) external nonReentrant {
        ReceiverState storage rs = receivers[receiver][token];
        ReceiverState memory s = rs;
        uint128 due = s.totalClaimed - s.totalSettled;
        if (due == 0) return;
        rs.totalSettled = s.totalClaimed;
        IERC20(token).safeTransfer(receiver, due);
        emit Settled(receiver, token, msg.sender, due);
    }

    // ---------------------------------------------------------------------
    // Payer withdrawal
    // ---------------------------------------------------------------------

    /// @notice Starts a timed withdrawal of up to `amount` of the unclaimed
    /// escrow; the payer or payer authorizer may call finalizeWithdraw once
    /// withdrawDelay has passed. Claims recorded meanwhile still win.
    function initiateWithdraw(ChannelConfig calldata config, uint128 amount) external nonReentrant {
        if (!_isPayerSide(msg.sender, config)) revert InvalidChannel();
        if (amount == 0) revert NothingToWithdraw();
        bytes32 id = _channelId(_domainSeparator(), config);
        WithdrawalState storage w = pendingWithdrawals[id];
        if (w.initiatedAt != 0) revert WithdrawalAlreadyPending();
        ChannelState memory s = channels[id];
        if (amount > s.balance - s.totalClaimed) revert WithdrawAmountExceedsAvailable();
        uint40 now40 = uint40(block.timestamp);
        w.amount = amount;
        w.initiatedAt = now40;
        emit WithdrawInitiated(id, amount, now40 + config.withdrawDelay);
    }

    /// @notice Completes a pending withdrawal after its delay, paying the payer
    /// the requested amount capped at what is still unclaimed.
    function finalizeWithdraw(ChannelConfig calldata config) external nonReentrant {
        if (!_isPayerSide(msg.sender, config)) revert NotAuthorizedToFinalizeWithdraw();
        bytes32 id = _channelId(_domainSeparator(), config);
        WithdrawalState memory w = pendingWithdrawals[id];
        if (w.initiatedAt == 0) revert WithdrawalNotPending();
        if (block.timestamp < uint256(w.initiatedAt) + uint256(config.withdrawDelay)) {
            revert WithdrawDelayNotElapsed();
        }
        delete pendingWithdrawals[id];

        ChannelState storage ch = channels[id];
        ChannelState memory s = ch;
        uint128 unclaimed = s.balance - s.totalClaimed;
        uint128 paid = w.amount < unclaimed ? w.amount : unclaimed;
        uint128 left = s.balance - paid;
        ch.balance = left;

        emit WithdrawFinalized(id, msg.sender, paid);
        if (left == 0 && s.totalClaimed == 0) emit ChannelClosed(id, config);
        if (paid != 0) IERC20(config.token).safeTransfer(config.payer, paid);
    }

    // ---------------------------------------------------------------------
    // Cooperative refund
    // ---------------------------------------------------------------------

    /// @notice Returns up to `amount` of the unclaimed escrow to the payer,
    /// sent by the receiver or the receiver authorizer.
    function refund(ChannelConfig calldata config, uint128 amount) external nonReentrant {
        if (!_isReceiverSide(msg.sender, config)) revert NotAuthorizedToRefund();
        _refund(_channelId(_domainSeparator(), config), config, amount);
    }

    /// @notice Like refund, authorized by the receiver authorizer's EIP-712
    /// Refund signature for the channel's current refund nonce; anybody may
    /// relay it.
    function refundWithSignature(
        ChannelConfig calldata config,
        uint128 amount,
        uint256 nonce,
        bytes calldata receiverAuthorizerSignature
    ) external nonReentrant {
        bytes32 domain = _domainSeparator();
        bytes32 id = _channelId(domain, config);
        if (nonce != refundNonce[id]) revert InvalidRefundNonce();
        bytes32 digest = MessageHashUtils.toTypedDataHash(domain, _refundHash(id, nonce, amount));
        if (!SignatureChecker.isValidSignatureNow(config.receiverAuthorizer, digest, receiverAuthorizerSignature)) {
            revert InvalidSignature();
        }
        _refund(id, config, amount);
    }

    // ---------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------

    /// @notice The channel id of `config`: its EIP-712 typed-data hash.
    function getChannelId(ChannelConfig calldata config) public view returns (bytes32) {
        return _channelId(_domainSeparator(), config);
    }

    /// @notice The EIP-712 digest a payer (or payer authorizer) signs for a voucher.
    function getVoucherDigest(bytes32 channelId, uint128 maxClaimableAmount) public view returns (bytes32) {
        return MessageHashUtils.toTypedDataHash(_domainSeparator(), _voucherHash(channelId, maxClaimableAmount));
    }

    /// @notice The EIP-712 digest a receiver authorizer signs for a refund.
    function getRefundDigest(bytes32 channelId, uint256 nonce, uint128 amount) public view returns (bytes32) {
        return MessageHashUtils.toTypedDataHash(_domainSeparator(), _refundHash(channelId, nonce, amount));
    }

    /// @notice The EIP-712 ClaimBatch digest a receiver authorizer signs for
    /// claimWithSignature (defined for an empty batch too).
    function getClaimBatchDigest(VoucherClaim[] calldata voucherClaims) public view returns (bytes32) {
        (bytes32 digest,) = _claimBatch(_domainSeparator(), voucherClaims);
        return digest;
    }

    /// @notice The EIP-712 domain (ERC-5267): name, version, chainId and
    /// verifyingContract.
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", DOMAIN_NAME, DOMAIN_VERSION, block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    // ---------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------

    function _domainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, DOMAIN_NAME_HASH, DOMAIN_VERSION_HASH, block.chainid, address(this)));
    }

    function _channelId(bytes32 domain, ChannelConfig calldata config) private pure returns (bytes32) {
        return MessageHashUtils.toTypedDataHash(domain, keccak256(abi.encode(CHANNEL_CONFIG_TYPEHASH, config)));
    }

    function _voucherHash(bytes32 channelId, uint128 maxClaimableAmount) private pure returns (bytes32) {
        return keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, maxClaimableAmount));
    }

    function _refundHash(bytes32 channelId, uint256 nonce, uint128 amount) private pure returns (bytes32) {
        return keccak256(abi.encode(REFUND_TYPEHASH, channelId, nonce, amount));
    }

    /// @dev The ClaimBatch digest and the channel id of every row.
    function _claimBatch(bytes32 domain, VoucherClaim[] calldata voucherClaims)
        private
        pure
        returns (bytes32 digest, bytes32[] memory ids)
    {
        uint256 n = voucherClaims.length;
        ids = new bytes32[](n);
        bytes32[] memory entries = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            VoucherClaim calldata vc = voucherClaims[i];
            bytes32 id = _channelId(domain, vc.voucher.channel);
            ids[i] = id;
            entries[i] =
                keccak256(abi.encode(CLAIM_ENTRY_TYPEHASH, id, vc.voucher.maxClaimableAmount, vc.totalClaimed));
        }
        // An array member is hashed as the keccak256 of its elements' hashes
        // laid end to end (keccak256("") for no elements).
        bytes32 root = keccak256(abi.encodePacked(entries));
        digest = MessageHashUtils.toTypedDataHash(domain, keccak256(abi.encode(CLAIM_BATCH_TYPEHASH, root)));
    }

    /// @dev Raises the channel's claimed total to vc.totalClaimed once the
    /// voucher checks out; a total at or below the recorded one is a no-op.
    function _applyClaim(bytes32 domain, bytes32 id, VoucherClaim calldata vc) private {
        ChannelState storage ch = channels[id];
        ChannelState memory s = ch;
        uint128 total = vc.totalClaimed;
        if (total <= s.totalClaimed) return;
        if (total > vc.voucher.maxClaimableAmount) revert ClaimExceedsCeiling();
        if (total > s.balance) revert ClaimExceedsBalance();
        _requireVoucherSigner(domain, id, vc);

        uint128 delta = total - s.totalClaimed;
        ch.totalClaimed = total;
        ChannelConfig calldata c = vc.voucher.channel;
        receivers[c.receiver][c.token].totalClaimed += delta;
        emit Claimed(id, msg.sender, delta, total);
    }

    /// @dev A voucher is signed by the payer authorizer (plain ECDSA) when the
    /// channel has one, else by the payer (ECDSA, or ERC-1271 for a contract).
    function _requireVoucherSigner(bytes32 domain, bytes32 id, VoucherClaim calldata vc) private view {
        bytes32 digest = MessageHashUtils.toTypedDataHash(domain, _voucherHash(id, vc.voucher.maxClaimableAmount));
        address payerAuthorizer = vc.voucher.channel.payerAuthorizer;
        bool ok = payerAuthorizer != address(0)
            ? ECDSA.recover(digest, vc.signature) == payerAuthorizer
            : SignatureChecker.isValidSignatureNow(vc.voucher.channel.payer, digest, vc.signature);
        if (!ok) revert InvalidSignature();
    }

    /// @dev Advances the refund nonce, then returns min(amount, unclaimed) to
    /// the payer, shrinking a pending withdrawal by what was refunded.
    function _refund(bytes32 id, ChannelConfig calldata config, uint128 amount) private {
        if (amount == 0) revert ZeroRefund();
        unchecked {
            ++refundNonce[id];
        }
        ChannelState storage ch = channels[id];
        ChannelState memory s = ch;
        uint128 unclaimed = s.balance - s.totalClaimed;
        uint128 paid = amount < unclaimed ? amount : unclaimed;
        if (paid == 0) return;
        uint128 left = s.balance - paid;
        ch.balance = left;

        WithdrawalState storage w = pendingWithdrawals[id];
        if (w.initiatedAt != 0) {
            if (paid >= w.amount) {
                delete pendingWithdrawals[id];
            } else {
                w.amount -= paid;
            }
        }

        emit Refunded(id, msg.sender, paid);
        if (left == 0 && s.totalClaimed == 0) emit ChannelClosed(id, config);
        IERC20(config.token).safeTransfer(config.payer, paid);
    }

    function _isReceiverSide(address who, ChannelConfig calldata config) private pure returns (bool) {
        return who == config.receiver || who == config.receiverAuthorizer;
    }

    function _isPayerSide(address who, ChannelConfig calldata config) private pure returns (bool) {
        return who == config.payer || who == config.payerAuthorizer;
    }

    /// @dev The checks a deposit makes on a channel configuration.
    function _requireOpenableConfig(ChannelConfig calldata config) private pure {
        if (
            config.payer == address(0) || config.receiver == address(0) || config.receiverAuthorizer == address(0)
                || config.token == address(0)
        ) revert InvalidChannel();
        if (config.withdrawDelay < MIN_WITHDRAW_DELAY || config.withdrawDelay > MAX_WITHDRAW_DELAY) {
            revert WithdrawDelayOutOfRange();
        }
    }
}
