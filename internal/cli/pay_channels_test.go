package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// go402 pay --channels lists the channel file; --channels and --refund
// refuse what makes no sense.
func TestPayChannelsList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "channels.json")
	store, err := batchsettlement.OpenChannelStore(path)
	if err != nil {
		t.Fatal(err)
	}
	id := common.HexToHash("0xabc1")
	err = store.Update(context.Background(), "eip155:84532", id, func(rec batchsettlement.ChannelRecord, _ bool) (*batchsettlement.ChannelRecord, error) {
		rec.Config.Receiver = common.HexToAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
		rec.Balance, rec.Charged, rec.Deposited = x402.NewAmount(10000), x402.NewAmount(3000), x402.NewAmount(10000)
		rec.URL = "http://127.0.0.1:1/data"
		return &rec, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "pay", "--channel-file", path, "--channels")
	if code != 0 || !strings.Contains(out, id.Hex()) || !strings.Contains(out, "10000") || !strings.Contains(out, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8") {
		t.Fatalf("code %d out %q err %q", code, out, errOut)
	}
	code, out, _ = run(t, "pay", "--channel-file", path, "--channels", "--json")
	var got struct {
		Channels []channelRow `json:"channels"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || len(got.Channels) != 1 || got.Channels[0].Charged != "3000" || got.Channels[0].Deposited != "10000" {
		t.Fatalf("code %d json %q", code, out)
	}
	for _, args := range [][]string{
		{"pay", "--channels"},
		{"pay", "--channel-file", path, "--channels", "http://example.com/"},
		{"pay", "--channel-file", path, "--refund", "0x12"},
		{"pay", "--channel-file", path, "--refund", "all", "--channels"},
	} {
		if code, _, _ := run(t, args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, ExitUsage)
		}
	}
}

// --refund of a channel the file does not hold fails, having sent nothing.
func TestPayRefundUnknownChannel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "channels.json")
	t.Setenv("GO402_PAYER_KEY", "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
	code, _, errOut := run(t, "pay", "--channel-file", path, "--refund", "0x"+strings.Repeat("ab", 32))
	if code != ExitError || !strings.Contains(errOut, "no channel") {
		t.Fatalf("code %d err %q", code, errOut)
	}
}
