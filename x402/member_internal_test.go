package x402

import "testing"

var memberCases = []string{
	`{"channelState":{"a":1}}`,
	`{"chargedAmount":"1000","channelState":{"channelId":"0x01","balance":"5"}}`,
	`{"channelState":null}`,
	`{"channelState":{"a":1},"channelState":null}`,
	`{"channelState":null,"CHANNELSTATE":[1]}`,
	`{"ChannelState":"x"}`,
	`{"channelstatE":0}`,
	`{ "a" : [1, {"channelState": 2}] , "b":"}\\"{" }`,
	`{"a":{"channelState":1}}`,
	`{}`,
	` { } `,
	`null`,
	`[{"channelState":1}]`,
	`"channelState"`,
	`{"channelState":}`,
	`{"channel\u0053tate":1}`,
	`{"channelſtate":1}`,
	`{"channelState":1`,
	`{"channelState":true, "x": false, "y": -1.5e3}`,
	``,
}

func TestLastMemberMatchesEncodingJSON(t *testing.T) {
	for _, c := range memberCases {
		if got, want := batchVoucherAnswer(&SettleResponse{Extra: Object(c)}), hasMemberSlow(Object(c)); got != want && c != "" {
			t.Errorf("%s: fast %v, encoding/json %v", c, got, want)
		}
	}
}

func FuzzLastMember(f *testing.F) {
	for _, c := range memberCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, c string) {
		if c == "" {
			return // an absent extra: not an answer, before either check
		}
		if got, want := batchVoucherAnswer(&SettleResponse{Extra: Object(c)}), hasMemberSlow(Object(c)); got != want {
			t.Errorf("%q: fast %v, encoding/json %v", c, got, want)
		}
	})
}
