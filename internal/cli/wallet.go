package cli

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/google/uuid"

	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/redact"
	"github.com/go402/go402/x402"
)

// Default environment variables of the payer key and the keystore
// passphrase.
const (
	defaultKeyEnv      = "GO402_PAYER_KEY"
	defaultPasswordEnv = "GO402_KEYSTORE_PASSWORD"
)

// The synopsis and description of each wallet subcommand; walletUsage is
// all of them, the help of "go402 wallet".
const (
	walletNewSynopsis     = `wallet new [--keystore PATH [--password-env NAME] [--light]]`
	walletAddressSynopsis = `wallet address [--key-env NAME | --keystore PATH [--password-env NAME]]`
	walletBalanceSynopsis = `wallet balance [--rpc URL [--network eip155:ID] [--asset ADDRESS] | --devnet-info FILE]
                            [--address ADDR | --key-env NAME | --keystore PATH [--password-env NAME]]`

	walletNewHelp = `new generates a secp256k1 key. With --keystore it writes it to PATH as an
encrypted keystore file (the Web3 Secret Storage format of go-ethereum,
scrypt, mode 0600; an existing file is never overwritten), encrypted with
the passphrase in $GO402_KEYSTORE_PASSWORD (or the variable named by
--password-env), and prints only the address. Without --keystore it prints
the address and the private key in hex on standard output: store the key
safely (a secret manager, or export it as GO402_PAYER_KEY) and do not leave
it in your shell history or logs.`
	walletAddressHelp = `address prints the address of the payer key: the hex key in
$GO402_PAYER_KEY (or the variable named by --key-env), or the keystore
given by --keystore.`
	walletBalanceHelp = `balance prints the token balance of an address (the payer key's unless
--address is given) in whole tokens and in atomic units, and its ETH
balance. The chain is reached through --rpc, on the network it reports
(checked against --network when given), or through the JSON file written by
"go402 devnet --info-file" or "go402 facilitator --devnet --info-file"
(--devnet-info). The token is --asset; on the built-in networks (Base,
Base Sepolia, Polygon, Arbitrum, ...) and the devnet it defaults to the
network's stablecoin.`

	walletUsage = walletNewSynopsis + `
       go402 ` + walletAddressSynopsis + `
       go402 ` + walletBalanceSynopsis + `

Manages the payer key used by "go402 pay".

` + walletNewHelp + `

` + walletAddressHelp + `

` + walletBalanceHelp + `

The private key is only ever printed by "wallet new" without --keystore.
"go402 wallet SUBCOMMAND -h" lists a subcommand's flags.`
)

func runWallet(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usagef("missing subcommand: new, address or balance (see go402 wallet -h)")
	}
	switch args[0] {
	case "new":
		return runWalletNew(e, args[1:])
	case "address":
		return runWalletAddress(e, args[1:])
	case "balance":
		return runWalletBalance(ctx, e, args[1:])
	case "-h", "-help", "--help", "help":
		writeHelp(e.stdout, walletUsage, nil)
		return flag.ErrHelp
	}
	return usagef("unknown wallet subcommand %q: want new, address or balance", args[0])
}

// keyFlags selects the payer key: a hex key in an environment variable, or
// an encrypted keystore file with its passphrase in another one.
type keyFlags struct {
	keyEnv      string
	keystore    string
	passwordEnv string
	set         map[string]bool // flags given on the command line
}

func (k *keyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.keyEnv, "key-env", defaultKeyEnv, "environment variable `name` holding the payer's hex private key")
	fs.StringVar(&k.keystore, "keystore", "", "encrypted keystore file `path` holding the payer key (instead of --key-env)")
	fs.StringVar(&k.passwordEnv, "password-env", defaultPasswordEnv, "environment variable `name` holding the keystore passphrase")
}

// check validates the combination once the flags are parsed.
func (k *keyFlags) check(fs *flag.FlagSet) error {
	k.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { k.set[f.Name] = true })
	switch {
	case k.set["key-env"] && k.keystore != "":
		return usagef("--key-env and --keystore are mutually exclusive")
	case k.set["password-env"] && k.keystore == "":
		return usagef("--password-env only applies with --keystore")
	case k.keyEnv == "" && k.keystore == "":
		return usagef("--key-env must not be empty")
	case k.keystore != "" && k.passwordEnv == "":
		return usagef("--password-env must not be empty")
	}
	return nil
}

// configured reports whether a key is available without loading it: a
// keystore was named or the key variable is set.
func (k *keyFlags) configured() bool {
	return k.keystore != "" || os.Getenv(k.keyEnv) != ""
}

// load returns the payer's signer. Errors never contain the key.
func (k *keyFlags) load() (evm.Signer, error) {
	if k.keystore != "" {
		s, err := client.LoadKeystore(k.keystore, os.Getenv(k.passwordEnv))
		if err != nil {
			return nil, fmt.Errorf("loading the keystore %s (passphrase from $%s): %w", k.keystore, k.passwordEnv, err)
		}
		return s, nil
	}
	if os.Getenv(k.keyEnv) == "" {
		return nil, fmt.Errorf("no payer key: set $%s to a hex private key, or use --keystore (go402 wallet new creates a key)", k.keyEnv)
	}
	s, err := client.LoadKeyFromEnv(k.keyEnv)
	if err != nil {
		return nil, fmt.Errorf("loading the payer key from $%s: %w", k.keyEnv, err)
	}
	return s, nil
}

func runWalletNew(e env, args []string) error {
	fs := newFlagSet(e, "wallet new", walletNewSynopsis+"\n\n"+walletNewHelp)
	path := fs.String("keystore", "", "write the key to this encrypted keystore `path` (not overwritten if it exists) and print only the address")
	passwordEnv := fs.String("password-env", defaultPasswordEnv, "environment variable `name` holding the keystore passphrase")
	light := fs.Bool("light", false, "with --keystore: cheap scrypt parameters (for tests only; much weaker against guessing)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *path == "" && (set["password-env"] || set["light"]) {
		return usagef("--password-env and --light only apply with --keystore")
	}

	key, err := crypto.GenerateKey()
	if err != nil {
		return fmt.Errorf("generating a key: %w", err)
	}
	addr := crypto.PubkeyToAddress(key.PublicKey)
	if *path == "" {
		hexKey := "0x" + common.Bytes2Hex(crypto.FromECDSA(key))
		fmt.Fprintf(e.stdout, "address      %s\n", addr.Hex())
		fmt.Fprintf(e.stdout, "private key  %s\n\n", hexKey)
		fmt.Fprintf(e.stdout, "WARNING: anyone who sees this private key can spend everything sent to the\n")
		fmt.Fprintf(e.stdout, "address. Store it safely now (a secret manager, or an encrypted keystore with\n")
		fmt.Fprintf(e.stdout, "go402 wallet new --keystore), keep it out of shell history and logs, and pass\n")
		fmt.Fprintf(e.stdout, "it to go402 pay through $%s. It is not saved anywhere.\n", defaultKeyEnv)
		return nil
	}
	if *passwordEnv == "" {
		return usagef("--password-env must not be empty")
	}
	pass := os.Getenv(*passwordEnv)
	if pass == "" {
		return fmt.Errorf("no keystore passphrase: set $%s (or name another variable with --password-env)", *passwordEnv)
	}
	n, p := keystore.StandardScryptN, keystore.StandardScryptP
	if *light {
		n, p = keystore.LightScryptN, keystore.LightScryptP
	}
	if err := writeKeystore(*path, key, pass, n, p); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, addr.Hex())
	return nil
}

// writeKeystore encrypts key into a new keystore file at path (mode 0600).
// It refuses to replace an existing file: that could destroy the only
// copy of a funded key.
func writeKeystore(path string, key *ecdsa.PrivateKey, pass string, scryptN, scryptP int) (err error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return fmt.Errorf("generating the keystore id: %w", err)
	}
	blob, err := keystore.EncryptKey(&keystore.Key{Id: id, Address: crypto.PubkeyToAddress(key.PublicKey), PrivateKey: key}, pass, scryptN, scryptP)
	if err != nil {
		return fmt.Errorf("encrypting the key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("keystore %s already exists; not overwriting it", path)
		}
		return fmt.Errorf("creating the keystore: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	if _, err := f.Write(blob); err != nil {
		return fmt.Errorf("writing the keystore: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing the keystore: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the keystore: %w", err)
	}
	return nil
}

func runWalletAddress(e env, args []string) error {
	fs := newFlagSet(e, "wallet address", walletAddressSynopsis+"\n\n"+walletAddressHelp)
	var keys keyFlags
	keys.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := keys.check(fs); err != nil {
		return err
	}
	s, err := keys.load()
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, s.Address().Hex())
	return nil
}

// balanceTimeout bounds the chain calls of wallet balance.
const balanceTimeout = 30 * time.Second

// balanceOptions are the parsed flags of go402 wallet balance.
type balanceOptions struct {
	rpcURL     string
	network    x402.Network // --network, "" if not given
	asset      string
	devnetInfo string
	address    string
	keys       keyFlags
}

func runWalletBalance(ctx context.Context, e env, args []string) error {
	o, err := parseWalletBalanceFlags(e, args)
	if err != nil {
		return err
	}
	nets, err := balanceNetworks(o)
	if err != nil {
		return err
	}
	who, err := balanceHolder(o)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, balanceTimeout)
	defer cancel()
	ec, gotNet, err := dialBalanceChain(ctx, o.rpcURL, o.network)
	if err != nil {
		return err
	}
	defer ec.Close()

	tok, err := balanceAsset(ctx, ec, nets, gotNet, o.asset)
	if err != nil {
		return redact.Scrub(err, o.rpcURL)
	}
	tokBal, err := erc20BalanceOf(ctx, ec, tok.Address, who)
	if err != nil {
		return fmt.Errorf("reading the %s balance: %w", tok.Symbol, redact.Scrub(err, o.rpcURL))
	}
	ethBal, err := ec.BalanceAt(ctx, who, nil)
	if err != nil {
		return fmt.Errorf("reading the ETH balance: %w", redact.Scrub(err, o.rpcURL))
	}
	printBalance(e.stdout, who, gotNet, nets, tok, tokBal, ethBal)
	return nil
}

// parseWalletBalanceFlags parses and checks the flags of go402 wallet
// balance.
func parseWalletBalanceFlags(e env, args []string) (*balanceOptions, error) {
	fs := newFlagSet(e, "wallet balance", walletBalanceSynopsis+"\n\n"+walletBalanceHelp)
	o := &balanceOptions{}
	var network string
	fs.StringVar(&o.rpcURL, "rpc", "", "JSON-RPC `URL` of the chain")
	fs.StringVar(&network, "network", "", "CAIP-2 `network` the --rpc endpoint must be on, such as eip155:8453 (default: the one it reports)")
	fs.StringVar(&o.asset, "asset", "", "token contract `address` (default: the network's stablecoin, on the built-in networks and the devnet)")
	fs.StringVar(&o.devnetInfo, "devnet-info", "", "JSON `file` written by go402 devnet --info-file or go402 facilitator --devnet --info-file (instead of --rpc)")
	fs.StringVar(&o.address, "address", "", "`address` to look up (default: the payer key's)")
	o.keys.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := o.keys.check(fs); err != nil {
		return nil, err
	}
	switch {
	case o.rpcURL == "" && o.devnetInfo == "":
		return nil, usagef("--rpc URL or --devnet-info FILE is required")
	case o.rpcURL != "" && o.devnetInfo != "":
		return nil, usagef("--rpc and --devnet-info are mutually exclusive")
	case o.address != "" && (o.keys.set["key-env"] || o.keys.keystore != ""):
		return nil, usagef("--address and --key-env/--keystore are mutually exclusive")
	case o.address != "" && !common.IsHexAddress(o.address):
		return nil, usagef("--address %q is not an address", o.address)
	case o.asset != "" && !common.IsHexAddress(o.asset):
		return nil, usagef("--asset %q is not an address", o.asset)
	}
	if network != "" {
		n, err := x402.ParseNetwork(network)
		if err != nil {
			return nil, usagef("--network: %v", err)
		}
		if n.Namespace() != x402.NamespaceEIP155 {
			return nil, usagef("--network: %s is not an EVM (eip155) network", n)
		}
		o.network = n
	}
	return o, nil
}

// balanceNetworks returns the known networks: the built-in ones and, with
// --devnet-info, the devnet, whose network and RPC URL it records in o.
func balanceNetworks(o *balanceOptions) (*evm.Networks, error) {
	nets := evm.DefaultNetworks()
	if o.devnetInfo == "" {
		return nets, nil
	}
	nc, err := loadDevnetNetwork(o.devnetInfo)
	if err != nil {
		return nil, err
	}
	if err := nets.Add(nc); err != nil {
		return nil, fmt.Errorf("devnet info %s: %w", o.devnetInfo, err)
	}
	if o.network != "" && o.network != nc.Network {
		return nil, usagef("--network %s does not match the devnet's %s", o.network, nc.Network)
	}
	o.network, o.rpcURL = nc.Network, nc.RPCURLs[0]
	return nets, nil
}

// balanceHolder returns the address to look up: --address, or the payer
// key's.
func balanceHolder(o *balanceOptions) (common.Address, error) {
	if o.address != "" {
		return common.HexToAddress(o.address), nil
	}
	s, err := o.keys.load()
	if err != nil {
		return common.Address{}, fmt.Errorf("%w (or give --address)", err)
	}
	return s.Address(), nil
}

// dialBalanceChain connects to rpcURL and returns the network it is on,
// which must be want when want is not "".
func dialBalanceChain(ctx context.Context, rpcURL string, want x402.Network) (*ethclient.Client, x402.Network, error) {
	ec, err := ethclient.DialContext(ctx, rpcURL)
	if err != nil {
		return nil, "", fmt.Errorf("cannot connect to %s", redact.URL(rpcURL))
	}
	chainID, err := ec.ChainID(ctx)
	if err != nil {
		ec.Close()
		return nil, "", fmt.Errorf("reading the chain id from %s: %w", redact.URL(rpcURL), redact.Scrub(err, rpcURL))
	}
	if !chainID.IsUint64() {
		ec.Close()
		return nil, "", fmt.Errorf("%s reports chain id %s", redact.URL(rpcURL), chainID)
	}
	got := x402.EIP155(chainID.Uint64())
	if want != "" && want != got {
		ec.Close()
		return nil, "", fmt.Errorf("%s is on %s, not %s", redact.URL(rpcURL), got, want)
	}
	return ec, got, nil
}

// balanceAsset returns the token to look up: the registered asset at
// address, the network's default asset when address is empty, or else the
// token's symbol and decimals read from the chain.
func balanceAsset(ctx context.Context, ec *ethclient.Client, nets *evm.Networks, network x402.Network, address string) (evm.Asset, error) {
	if address == "" {
		nc, err := nets.Lookup(network)
		if err != nil || len(nc.Assets) == 0 {
			return evm.Asset{}, usagef("%s has no default stablecoin in go402's table: give the token with --asset", network)
		}
		return nc.Assets[0], nil
	}
	addr := common.HexToAddress(address)
	if a, err := nets.Asset(network, addr); err == nil {
		return a, nil
	}
	dec, err := erc20Call(ctx, ec, addr, "decimals()")
	if err != nil {
		return evm.Asset{}, fmt.Errorf("reading the decimals of %s: %w", addr.Hex(), err)
	}
	if len(dec) != 32 || new(big.Int).SetBytes(dec).Cmp(big.NewInt(77)) > 0 {
		return evm.Asset{}, fmt.Errorf("%s does not look like an ERC-20 token (decimals() answered %d bytes)", addr.Hex(), len(dec))
	}
	a := evm.Asset{Address: addr, Decimals: uint8(new(big.Int).SetBytes(dec).Uint64()), Symbol: "tokens"}
	if sym, err := erc20Call(ctx, ec, addr, "symbol()"); err == nil {
		if s, ok := abiString(sym); ok {
			a.Symbol = s
		}
	}
	return a, nil
}

// erc20Call calls a method without arguments on a contract.
func erc20Call(ctx context.Context, ec *ethclient.Client, token common.Address, sig string) ([]byte, error) {
	return ec.CallContract(ctx, ethereum.CallMsg{To: &token, Data: crypto.Keccak256([]byte(sig))[:4]}, nil)
}

// erc20BalanceOf reads balanceOf(who) on token.
func erc20BalanceOf(ctx context.Context, ec *ethclient.Client, token, who common.Address) (*big.Int, error) {
	data := append(crypto.Keccak256([]byte("balanceOf(address)"))[:4], common.LeftPadBytes(who.Bytes(), 32)...)
	out, err := ec.CallContract(ctx, ethereum.CallMsg{To: &token, Data: data}, nil)
	if err != nil {
		return nil, err
	}
	if len(out) != 32 {
		return nil, fmt.Errorf("%s does not look like an ERC-20 token (balanceOf answered %d bytes)", token.Hex(), len(out))
	}
	return new(big.Int).SetBytes(out), nil
}

// abiString decodes an ABI-encoded string return value, keeping only
// printable ASCII (a token symbol is shown on a terminal).
func abiString(b []byte) (string, bool) {
	if len(b) < 64 {
		return "", false
	}
	off := new(big.Int).SetBytes(b[:32])
	if !off.IsUint64() || off.Uint64() > uint64(len(b)-32) {
		return "", false
	}
	o := int(off.Uint64())
	n := new(big.Int).SetBytes(b[o : o+32])
	if !n.IsUint64() || n.Uint64() > uint64(len(b)-o-32) || n.Uint64() == 0 || n.Uint64() > 32 {
		return "", false
	}
	s := b[o+32 : o+32+int(n.Uint64())]
	for _, c := range s {
		if c < 0x21 || c > 0x7e {
			return "", false
		}
	}
	return string(s), true
}

func printBalance(w io.Writer, who common.Address, network x402.Network, nets *evm.Networks, tok evm.Asset, tokBal, ethBal *big.Int) {
	netName := string(network)
	if nc, err := nets.Lookup(network); err == nil && nc.Name != "" {
		netName += " (" + nc.Name + ")"
	}
	fmt.Fprintf(w, "address  %s\n", who.Hex())
	fmt.Fprintf(w, "network  %s\n", netName)
	fmt.Fprintf(w, "token    %s %s  (%s atomic units of %s)\n", formatUnits(tokBal, int(tok.Decimals)), tok.Symbol, tokBal, tok.Address.Hex())
	fmt.Fprintf(w, "ETH      %s ETH  (%s wei)\n", formatUnits(ethBal, 18), ethBal)
}

// devnetInfoFile is either JSON file go402 writes for a devnet: the one of
// go402 devnet (a devnet.Info) or of go402 facilitator --devnet (with the
// devnet.Info under "devnet").
type devnetInfoFile struct {
	devnet.Info
	Devnet *devnet.Info `json:"devnet"`
}

// loadDevnetNetwork reads a devnet info file and describes the devnet as a
// network whose only asset is its test USDC.
func loadDevnetNetwork(path string) (evm.NetworkConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return evm.NetworkConfig{}, fmt.Errorf("reading the devnet info: %w", err)
	}
	var f devnetInfoFile
	if err := json.Unmarshal(b, &f); err != nil {
		return evm.NetworkConfig{}, fmt.Errorf("devnet info %s: %w", path, err)
	}
	info := f.Info
	if f.Devnet != nil {
		info = *f.Devnet
	}
	switch {
	case info.ChainID == 0 || info.RPCURL == "":
		return evm.NetworkConfig{}, fmt.Errorf("devnet info %s: no chainId or rpcUrl (is it the --info-file of go402 devnet or go402 facilitator --devnet?)", path)
	case !common.IsHexAddress(info.Token.Address):
		return evm.NetworkConfig{}, fmt.Errorf("devnet info %s: token.address %q is not an address", path, info.Token.Address)
	}
	nc := evm.NetworkConfig{
		Network: x402.EIP155(info.ChainID),
		ChainID: info.ChainID,
		Name:    "go402 devnet",
		Testnet: true,
		RPCURLs: []string{info.RPCURL},
		Assets: []evm.Asset{{
			Address:  common.HexToAddress(info.Token.Address),
			Symbol:   devnet.DefaultSymbol, // the info has no symbol; go402 devnet always uses the default
			Name:     info.Token.Name,
			Version:  info.Token.Version,
			Decimals: info.Token.Decimals,
		}},
	}
	if pt := info.PermitToken; pt.Address != "" {
		if !common.IsHexAddress(pt.Address) {
			return evm.NetworkConfig{}, fmt.Errorf("devnet info %s: permitToken.address %q is not an address", path, pt.Address)
		}
		nc.Assets = append(nc.Assets, evm.Asset{
			Address: common.HexToAddress(pt.Address), Symbol: devnet.PermitTokenSymbol, Name: pt.Name, Version: pt.Version,
			Decimals: pt.Decimals, TransferMethod: evm.TransferPermit2,
		})
	}
	if err := nc.Validate(); err != nil {
		return evm.NetworkConfig{}, fmt.Errorf("devnet info %s: %w", path, err)
	}
	return nc, nil
}
