package channelserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/channels/sqlite"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/evm/batchsettlement/channelserver"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

const network x402.Network = "eip155:84532"

// usdc is the asset "$" prices resolve to on network.
var usdc = common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e")

// price is the route's price, $0.001 in USDC units.
var price = x402.NewAmount(1000)

// noFacilitator fails every call: the voucher hot path must not reach
// the facilitator. It counts the calls.
type noFacilitator struct{ calls atomic.Int64 }

var errNoFacilitator = errors.New("test: the facilitator must not be called")

func (f *noFacilitator) Verify(context.Context, *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	f.calls.Add(1)
	return nil, errNoFacilitator
}

func (f *noFacilitator) Settle(context.Context, *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	f.calls.Add(1)
	return nil, errNoFacilitator
}

func (f *noFacilitator) Supported(context.Context) (*x402.SupportedResponse, error) {
	return &x402.SupportedResponse{}, nil
}

// payer is a channel's payer: its key signs the vouchers.
type payer struct {
	key    evm.Signer
	config batchsettlement.ChannelConfig
	id     common.Hash
}

func newKey(t testing.TB) evm.Signer {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := evm.NewPrivateKeySignerFromECDSA(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// world is a route paid by batch-settlement vouchers, served by a
// middleware on loopback, with its channel store.
type world struct {
	t          testing.TB
	store      channels.Store
	fac        x402.Facilitator
	srv        *channelserver.Server
	http       *httptest.Server
	receiver   common.Address
	authorizer evm.Signer
	req        x402.PaymentRequirements // the route's requirements
	served     atomic.Int64             // handler answers 200
	fail       atomic.Bool              // the handler answers 500
}

type worldOptions struct {
	store    channels.Store
	receiver common.Address
	auth     evm.Signer
	fac      x402.Facilitator
}

func newWorld(t testing.TB, o worldOptions) *world {
	t.Helper()
	w := &world{t: t, store: o.store, receiver: o.receiver, authorizer: o.auth, fac: o.fac}
	if w.store == nil {
		w.store = openSQLite(t, filepath.Join(t.TempDir(), "channels.db"))
	}
	if w.receiver == (common.Address{}) {
		w.receiver = common.HexToAddress("0x00000000000000000000000000000000000000aa")
	}
	if w.authorizer == nil {
		w.authorizer = newKey(t)
	}
	if w.fac == nil {
		w.fac = &noFacilitator{}
	}
	scheme := &batchsettlement.Server{ReceiverAuthorizer: w.authorizer.Address()}
	var err error
	w.srv, err = channelserver.New(channelserver.Config{Scheme: scheme, Store: w.store, Facilitator: w.fac, Authorizer: w.authorizer})
	if err != nil {
		t.Fatal(err)
	}
	reg := &x402.Registry[x402.SchemeServer]{}
	if err := reg.Register(x402.V2, batchsettlement.Scheme, network, w.srv); err != nil {
		t.Fatal(err)
	}
	mw, err := x402http.New(x402http.Config{Facilitator: w.fac, Schemes: reg, Routes: []x402http.Route{{
		Pattern: "GET /paid",
		Accepts: []x402http.PaymentOption{{Scheme: batchsettlement.Scheme, Network: network, Price: "$0.001", PayTo: w.receiver.Hex()}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if w.req, err = scheme.Requirements(network, mustPrice(t, "$0.001"), w.receiver.Hex(), x402http.DefaultMaxTimeoutSeconds); err != nil {
		t.Fatal(err)
	}
	w.http = httptest.NewServer(mw.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if w.fail.Load() {
			http.Error(rw, "broken", http.StatusInternalServerError)
			return
		}
		w.served.Add(1)
		_, _ = io.WriteString(rw, "paid content")
	})))
	t.Cleanup(w.http.Close)
	return w
}

func openSQLite(t testing.TB, path string) channels.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustPrice(t testing.TB, s string) x402.Price {
	t.Helper()
	p, err := x402.ParsePrice(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// openChannel makes a payer with a funded channel of balance to the
// world's receiver, recorded as a deposit leaves it: the chain state
// mirrored now, nothing charged.
func (w *world) openChannel(balance uint64) *payer {
	w.t.Helper()
	p := &payer{key: newKey(w.t)}
	p.config = batchsettlement.ChannelConfig{
		Payer: p.key.Address(), PayerAuthorizer: p.key.Address(), Receiver: w.receiver,
		ReceiverAuthorizer: w.authorizer.Address(), Token: usdc, WithdrawDelay: batchsettlement.DefaultWithdrawDelay,
		Salt: common.BytesToHash(crypto.Keccak256(p.key.Address().Bytes())),
	}
	p.id = batchsettlement.ChannelID(p.config, 84532)
	cfg, err := json.Marshal(p.config)
	if err != nil {
		w.t.Fatal(err)
	}
	err = w.store.Create(context.Background(), channels.Channel{ID: hexutil.Encode(p.id[:]), Network: network, Config: cfg,
		Onchain: channels.Onchain{Balance: x402.NewAmount(balance), SyncedAt: time.Now()}})
	if err != nil && !errors.Is(err, channels.ErrExists) {
		w.t.Fatal(err)
	}
	return p
}

// header is the PAYMENT-SIGNATURE of a voucher for cumulative signed by
// key over the payer's channel.
func (w *world) header(p *payer, key evm.Signer, cumulative x402.Amount) string {
	w.t.Helper()
	vo, err := batchsettlement.SignVoucher(context.Background(), key, 84532, p.id, cumulative)
	if err != nil {
		w.t.Fatal(err)
	}
	obj, err := batchsettlement.Object(&batchsettlement.VoucherPayload{ChannelConfig: p.config, Voucher: vo})
	if err != nil {
		w.t.Fatal(err)
	}
	h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Accepted: w.req, Payload: obj})
	if err != nil {
		w.t.Fatal(err)
	}
	return h
}

// reply is a finished paid request.
type reply struct {
	status   int
	body     string
	settle   *x402.SettleResponse
	required *x402.PaymentRequired
}

// pay sends a request with the PAYMENT-SIGNATURE header h.
func (w *world) pay(client *http.Client, h string) (reply, error) {
	req, err := http.NewRequest(http.MethodGet, w.http.URL+"/paid", nil)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set(x402.HeaderPaymentSignature, h)
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{status: resp.StatusCode, body: string(b)}
	if v := resp.Header.Get(x402.HeaderPaymentResponse); v != "" {
		if r.settle, err = x402.DecodePaymentResponse(v); err != nil {
			return r, err
		}
	}
	if v := resp.Header.Get(x402.HeaderPaymentRequired); v != "" {
		if r.required, err = x402.DecodePaymentRequired(v); err != nil {
			return r, err
		}
	}
	return r, nil
}

// responseExtra reads a PAYMENT-RESPONSE's batch-settlement extra.
func responseExtra(t testing.TB, sr *x402.SettleResponse) *batchsettlement.ResponseExtra {
	t.Helper()
	e, err := batchsettlement.ParseResponseExtra(sr.Extra)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// charged is the channel's charged total in the store.
func (w *world) charged(p *payer) x402.Amount {
	w.t.Helper()
	ch, err := w.store.Get(context.Background(), hexutil.Encode(p.id[:]))
	if err != nil {
		w.t.Fatal(err)
	}
	return ch.Charged
}

func times(n uint64) x402.Amount { return x402.NewAmount(n * 1000) }
