package service

import (
	"context"
	"net/http"

	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
)

// DialRPC connects to a chain's JSON-RPC endpoint as the facilitator
// does. Over HTTP it does not ask for compressed responses: the
// facilitator's calls and their answers are small (a few hundred bytes to
// a few kilobytes of hex), and compressing each answer cost the node, and
// decompressing it cost the facilitator, more CPU than the bytes saved are
// worth (about 5% of a verify's CPU against a local node).
func DialRPC(ctx context.Context, url string) (*ethclient.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableCompression = true
	c, err := rpc.DialOptions(ctx, url, rpc.WithHTTPClient(&http.Client{Transport: t}))
	if err != nil {
		return nil, err
	}
	return ethclient.NewClient(c), nil
}
