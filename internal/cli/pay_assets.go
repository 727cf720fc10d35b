package cli

import (
	"fmt"
	"strings"

	"github.com/go402/go402/client"
	"github.com/go402/go402/x402"
)

// expandAtomic expands the shorthand "<digits>atomic" of a limit in
// atomic units of the one asset declared with --asset.
func expandAtomic(limit string, declared []client.Asset) (string, error) {
	n, ok := strings.CutSuffix(strings.TrimSpace(limit), "atomic")
	if !ok {
		return limit, nil
	}
	n = strings.TrimSpace(n)
	amount, err := x402.ParseAmount(n)
	if err != nil {
		return "", fmt.Errorf("%q: want a whole number of atomic units before \"atomic\"", limit)
	}
	if len(declared) != 1 {
		return "", fmt.Errorf("%q names no asset: with %d --asset flags, write \"%s atomic NETWORK/ADDRESS\"", limit, len(declared), n)
	}
	return client.AtomicLimit(amount, declared[0].Network, declared[0].Address), nil
}

// payAssets builds the assets the client knows: the built-in ones, a
// devnet's (--devnet-info), an --assets file and --asset flags, later
// ones replacing earlier declarations of the same token. A devnet's RPC
// endpoint joins o.rpc, unless --rpc names one for its network.
func payAssets(o *payOptions) (*client.Assets, error) {
	assets := client.DefaultAssets()
	if o.devnetInfo != "" {
		nc, err := loadDevnetNetwork(o.devnetInfo)
		if err != nil {
			return nil, err
		}
		if err := nc.Validate(); err != nil {
			return nil, fmt.Errorf("devnet info %s: %w", o.devnetInfo, err)
		}
		if err := assets.Add(client.EVMAssets(nc)...); err != nil {
			return nil, fmt.Errorf("devnet info %s: %w", o.devnetInfo, err)
		}
		if _, ok := o.rpc[nc.Network]; !ok && len(nc.RPCURLs) > 0 {
			if o.rpc == nil {
				o.rpc = map[x402.Network]string{}
			}
			o.rpc[nc.Network] = nc.RPCURLs[0]
		}
	}
	if o.assetsFile != "" {
		declared, err := client.LoadAssetsFile(o.assetsFile)
		if err != nil {
			return nil, err
		}
		if err := assets.Add(declared...); err != nil {
			return nil, err
		}
	}
	if err := assets.Add(o.assets...); err != nil {
		return nil, err
	}
	return assets, nil
}
