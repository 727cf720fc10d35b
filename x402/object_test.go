package x402_test

import (
	"encoding/json"
	"testing"

	"github.com/go402/go402/x402"
)

func TestObject(t *testing.T) {
	var o x402.Object
	if err := json.Unmarshal([]byte(` { "b": [1, 2], "a": "x" } `), &o); err != nil {
		t.Fatal(err)
	}
	if s, ok := o.StringField("a"); !ok || s != "x" {
		t.Errorf("StringField: %q %v", s, ok)
	}
	if _, ok := o.StringField("b"); ok {
		t.Error("array read as string")
	}
	if _, ok := o.Field("missing"); ok {
		t.Error("missing field found")
	}
	if !o.Equal(x402.Object(`{"a":"x","b":[1,2]}`)) {
		t.Error("key order or spacing broke equality")
	}
	if o.Equal(x402.Object(`{"a":"x","b":[2,1]}`)) || o.Equal(x402.Object(`{"a":"x"}`)) {
		t.Error("different objects equal")
	}
	if !x402.Object(nil).Equal(x402.Object(`{}`)) {
		t.Error("absent != empty")
	}
	if !x402.Object(`{"n":1.0}`).Equal(x402.Object(`{"n":1.0}`)) || x402.Object(`{"n":1}`).Equal(x402.Object(`{"n":"1"}`)) {
		t.Error("number comparison")
	}
	for _, bad := range []string{`[]`, `"s"`, `1`, `true`} {
		var p x402.Object
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("%s accepted as object", bad)
		}
	}
	var n x402.Object
	if err := json.Unmarshal([]byte(`null`), &n); err != nil || !n.IsNull() {
		t.Errorf("null: %v %v", n, err)
	}
	if out, _ := json.Marshal(struct{ O x402.Object }{}); string(out) != `{"O":null}` {
		t.Errorf("nil marshal: %s", out)
	}
	made, err := x402.NewObject(map[string]string{"name": "USDC"})
	if err != nil || string(made) != `{"name":"USDC"}` {
		t.Errorf("NewObject: %s %v", made, err)
	}
	if _, err := x402.NewObject([]int{1}); err == nil {
		t.Error("NewObject accepted an array")
	}
	var dst struct{ Name string }
	if err := made.Decode(&dst); err != nil || dst.Name != "USDC" {
		t.Errorf("Decode: %+v %v", dst, err)
	}
	if err := x402.Object(nil).Decode(&dst); err == nil {
		t.Error("decoded an absent object")
	}
}
