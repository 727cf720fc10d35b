package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// registerChannelFlags declares the payment-channel flags of go402 pay.
func registerChannelFlags(fs *flag.FlagSet, o *payOptions) {
	fs.StringVar(&o.channelFile, "channel-file", os.Getenv("GO402_CHANNEL_FILE"), "JSON `file` keeping the batch-settlement payment channels across runs (deposits, charged totals, last vouchers); default $GO402_CHANNEL_FILE, else they are kept only for this run")
	fs.BoolVar(&o.listChannels, "channels", false, "list the payment channels of --channel-file (network, channelId, receiver, balance, charged, deposited) and exit; no URL")
	fs.StringVar(&o.refund, "refund", "", "ask the servers of the payment channels of --channel-file for a cooperative refund of their unclaimed balance: a `channelId`, or all; no URL")
}

// checkChannelFlags checks --channels and --refund: no URL, a channel file.
func (o *payOptions) checkChannelFlags(pos []string, rpc []string) error {
	switch {
	case len(pos) > 0:
		return usagef("--channels and --refund take no URL")
	case o.listChannels && o.refund != "":
		return usagef("--channels and --refund are exclusive")
	case o.channelFile == "":
		return usagef("--channels and --refund need --channel-file (or $GO402_CHANNEL_FILE)")
	case o.refund != "" && o.refund != "all" && !isChannelID(o.refund):
		return usagef("--refund %q: want a channelId (0x and 64 hex digits) or all", o.refund)
	}
	return o.setRPC(rpc)
}

// isChannelID reports whether s is 0x and 64 hex digits.
func isChannelID(s string) bool {
	if !strings.HasPrefix(s, "0x") || len(s) != 66 {
		return false
	}
	_, err := hexutil.Decode(s)
	return err == nil
}

// channelSchemes returns the scheme registry of go402 pay with the
// batch-settlement payer registered (its channels in --channel-file, or in
// memory); client.NewEVM adds "exact".
func channelSchemes(o *payOptions, signer evm.Signer) (*x402.Registry[x402.SchemeClient], error) {
	p, err := channelPayer(o, signer)
	if err != nil {
		return nil, err
	}
	return schemesWith(p)
}

// schemesWith returns a registry holding the batch-settlement payer p.
func schemesWith(p *batchsettlement.Payer) (*x402.Registry[x402.SchemeClient], error) {
	reg := new(x402.Registry[x402.SchemeClient])
	if err := reg.Register(x402.V2, batchsettlement.Scheme, "eip155:*", p); err != nil {
		return nil, err
	}
	return reg, nil
}

func channelPayer(o *payOptions, signer evm.Signer) (*batchsettlement.Payer, error) {
	store := batchsettlement.NewMemoryChannelStore()
	if o.channelFile != "" {
		var err error
		if store, err = batchsettlement.OpenChannelStore(o.channelFile); err != nil {
			return nil, err
		}
	}
	cfg := batchsettlement.PayerConfig{Signer: signer, Store: store}
	if len(o.rpc) > 0 {
		cfg.Reader = batchsettlement.NewRPCChannelReader(o.rpc)
	}
	return batchsettlement.NewPayer(cfg)
}

// channelRow is a channel as --channels --json prints it.
type channelRow struct {
	Network   x402.Network `json:"network"`
	ChannelID string       `json:"channelId"`
	Receiver  string       `json:"receiver"`
	Token     string       `json:"token"`
	Balance   string       `json:"balance"`
	Charged   string       `json:"charged"`
	Deposited string       `json:"deposited"`
	Refunded  string       `json:"refunded"`
	URL       string       `json:"url,omitempty"`
	Broken    string       `json:"broken,omitempty"`
}

// runPayChannels runs go402 pay --channels or --refund.
func runPayChannels(ctx context.Context, e env, o *payOptions) error {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	if o.listChannels {
		store, err := batchsettlement.OpenChannelStore(o.channelFile)
		if err != nil {
			return err
		}
		recs, err := store.List(ctx)
		if err != nil {
			return err
		}
		return printChannels(e, o, recs)
	}
	return refundChannels(ctx, e, o)
}

func printChannels(e env, o *payOptions, recs []batchsettlement.ChannelRecord) error {
	rows := make([]channelRow, 0, len(recs))
	for _, r := range recs {
		rows = append(rows, channelRow{Network: r.Network, ChannelID: r.ChannelID.Hex(), Receiver: r.Config.Receiver.Hex(), Token: r.Config.Token.Hex(),
			Balance: r.Balance.String(), Charged: r.Charged.String(), Deposited: r.Deposited.String(), Refunded: r.Refunded.String(), URL: r.URL, Broken: r.Broken})
	}
	if o.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(map[string]any{"channels": rows})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NETWORK\tCHANNEL\tRECEIVER\tBALANCE\tCHARGED\tDEPOSITED\tSTATE")
	for _, r := range rows {
		state := "open"
		if r.Broken != "" {
			state = "stopped: " + r.Broken
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Network, r.ChannelID, r.Receiver, r.Balance, r.Charged, r.Deposited, state)
	}
	return tw.Flush()
}

// refundChannels asks for the refund of the channels --refund names, and
// credits the budget (--budget-file) with what comes back.
func refundChannels(ctx context.Context, e env, o *payOptions) error {
	signer, err := o.keys.load()
	if err != nil {
		return err
	}
	p, err := channelPayer(o, signer)
	if err != nil {
		return err
	}
	recs, err := p.Store().List(ctx)
	if err != nil {
		return err
	}
	reg, err := schemesWith(p)
	if err != nil {
		return err
	}
	c, err := client.New(client.Config{Schemes: reg, Policy: client.Policy{Budget: o.budget, BudgetFile: o.budgetFile}})
	if err != nil {
		return err
	}
	var errs []error
	n := 0
	for _, r := range recs {
		if o.refund != "all" && !strings.EqualFold(r.ChannelID.Hex(), o.refund) {
			continue
		}
		n++
		if o.refund == "all" && r.Unclaimed().IsZero() {
			continue
		}
		if err := refundOne(ctx, e, p, c, r); err != nil {
			errs = append(errs, fmt.Errorf("channel %s: %w", r.ChannelID.Hex(), err))
		}
	}
	if n == 0 && o.refund != "all" {
		return fmt.Errorf("no channel %s in %s", o.refund, o.channelFile)
	}
	return errors.Join(errs...)
}

func refundOne(ctx context.Context, e env, p *batchsettlement.Payer, c *client.Client, r batchsettlement.ChannelRecord) error {
	if r.URL == "" {
		return errors.New("no server URL recorded for the channel")
	}
	res, err := p.Refund(ctx, nil, r.URL, r.ChannelID, nil)
	if err != nil {
		return err
	}
	u, _ := url.Parse(r.URL)
	if err := c.Refunded(ctx, res.Network, res.Asset, res.Refunded, u); err != nil {
		fmt.Fprintf(e.stderr, "refund of channel %s done, but the budget file was not credited: %v\n", r.ChannelID.Hex(), err)
	}
	tx := ""
	if res.Settlement != nil && res.Settlement.Transaction != "" {
		tx = " tx " + res.Settlement.Transaction
	}
	fmt.Fprintf(e.stdout, "refunded %s (atomic units of %s) from channel %s on %s%s\n", res.Refunded, res.Asset, r.ChannelID.Hex(), res.Network, tx)
	return nil
}
