package yamlconf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestSecretNeverPrints(t *testing.T) {
	const value = "0xdeadbeefcafe"
	s := Secret(value)
	if s.Value() != value {
		t.Fatal("Value")
	}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		out = append(out, fmt.Sprintf(verb, s))
	}
	out = append(out, fmt.Sprint(s), fmt.Sprintf("%+v", struct{ K Secret }{s}), s.String(), s.GoString())
	js, err := json.Marshal(map[string]any{"k": s, "p": &s})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(js))
	y, err := yaml.Marshal(struct{ K Secret }{s})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(y))
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("m", "k", s, "g", slog.Group("g", "k", s))
	slog.New(slog.NewTextHandler(&logs, nil)).Info("m", "k", s)
	out = append(out, logs.String())
	for _, o := range out {
		if strings.Contains(o, "deadbeef") || strings.Contains(o, "DEADBEEF") || strings.Contains(o, "6465616462656566") {
			t.Errorf("secret printed: %s", o)
		}
		if !strings.Contains(o, Redacted) {
			t.Errorf("no %s in %q", Redacted, o)
		}
	}
	if got := fmt.Sprint(Secret("")); got != "" {
		t.Errorf("empty secret prints %q", got)
	}
}
