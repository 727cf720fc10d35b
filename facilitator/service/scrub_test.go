package service

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/go402/go402/devnet"
)

func TestScrubbedBackend(t *testing.T) {
	// Transport errors of the chain backend quote the RPC URL, API key
	// included; the facilitator's backend shows only the host, and keeps
	// the error chain.
	dead := "http://127.0.0.1:1/v2/SECRETKEY"
	client, err := ethclient.DialContext(t.Context(), dead)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	b := ScrubbedBackend(client, dead)
	_, err = b.ChainID(t.Context())
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	if strings.Contains(err.Error(), "SECRETKEY") || !strings.Contains(err.Error(), "http://127.0.0.1:1/…") {
		t.Errorf("error text: %v", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(ECONNREFUSED) lost: %#v", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("errors.As(*net.OpError) lost: %#v", err)
	}
	// So do the batch requests of the chain reads.
	var id string
	err = ScrubbedBatchCaller(client.Client(), dead).BatchCallContext(t.Context(), []rpc.BatchElem{{Method: "eth_chainId", Result: &id}})
	if err == nil || strings.Contains(err.Error(), "SECRETKEY") || !strings.Contains(err.Error(), "http://127.0.0.1:1/…") || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("batch request to a closed port: %v", err)
	}

	// A live endpoint: answers pass through, and so do errors that do not
	// quote the URL (ethereum.NotFound is matched with errors.Is).
	d, err := devnet.Start(t.Context(), devnet.Config{Accounts: 1, RPCAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	live := d.RPCURL() + "/?apikey=SECRETKEY"
	lc, err := ethclient.DialContext(t.Context(), live)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	lb := ScrubbedBackend(lc, live)
	if id, err := lb.ChainID(t.Context()); err != nil || id.Cmp(d.ChainID()) != 0 {
		t.Errorf("ChainID: %v %v", id, err)
	}
	if _, err := lb.TransactionReceipt(t.Context(), common.HexToHash("0x01")); !errors.Is(err, ethereum.NotFound) {
		t.Errorf("TransactionReceipt of an unknown hash: %v", err)
	}
	if _, _, err := lb.TransactionByHash(t.Context(), common.HexToHash("0x01")); !errors.Is(err, ethereum.NotFound) {
		t.Errorf("TransactionByHash of an unknown hash: %v", err)
	}
	elems := []rpc.BatchElem{{Method: "eth_chainId", Result: &id}, {Method: "no_such_method", Result: new(string)}}
	if err := ScrubbedBatchCaller(lc.Client(), live).BatchCallContext(t.Context(), elems); err != nil {
		t.Fatalf("batch request: %v", err)
	}
	if id != fmt.Sprintf("0x%x", d.ChainID()) || elems[0].Error != nil || elems[1].Error == nil {
		t.Errorf("batch request: chain id %q, errors %v, %v", id, elems[0].Error, elems[1].Error)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := lb.HeaderByNumber(t.Context(), nil); err == nil || strings.Contains(err.Error(), "SECRETKEY") {
		t.Errorf("HeaderByNumber with the endpoint down: %v", err)
	}
}
