package yamlconf

import (
	"errors"
	"strings"
	"testing"
)

func TestEnvName(t *testing.T) {
	for key, want := range map[string]string{
		"listen":                      "GO402_LISTEN",
		"logLevel":                    "GO402_LOG_LEVEL",
		"database.sqlite":             "GO402_DATABASE_SQLITE",
		"auth.apiKeyHashes":           "GO402_AUTH_API_KEY_HASHES",
		"signer.privateKeyEnv":        "GO402_SIGNER_PRIVATE_KEY_ENV",
		"devnet.enabled":              "GO402_DEVNET",
		"devnet.batch.enabled":        "GO402_DEVNET_BATCH",
		"devnet.chainId":              "GO402_DEVNET_CHAIN_ID",
		"facilitator.embedded.devnet": "GO402_FACILITATOR_EMBEDDED_DEVNET",
		"queue.sqlite":                "GO402_QUEUE_SQLITE",
		"payTo":                       "GO402_PAY_TO",
		"http2Timeout":                "GO402_HTTP2_TIMEOUT",
	} {
		if got := EnvName(key); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestEnvApply(t *testing.T) {
	e := Env{
		Keys:      []string{"listen", "db.a", "db.b", "logLevel"},
		Exclusive: [][]string{{"db.a", "db.b"}},
		Retired:   map[string]string{"GO402_OLD": "GO402_LOG_LEVEL"},
	}
	type set struct{ key, value, source string }
	run := func(env map[string]string) ([]set, error) {
		var got []set
		err := e.Apply("c.yaml", mapEnv(env), func(k, v, s string) error {
			if v == "bad" {
				return &FieldError{File: "c.yaml", Source: s, Field: k, Msg: "bad value"}
			}
			got = append(got, set{k, v, s})
			return nil
		})
		return got, err
	}
	got, err := run(map[string]string{"GO402_LISTEN": ":1", "GO402_DB_B": "x", "GO402_LOG_LEVEL": "", "OTHER": "y"})
	if err != nil || len(got) != 2 || got[0] != (set{"listen", ":1", "GO402_LISTEN"}) || got[1] != (set{"db.b", "x", "GO402_DB_B"}) {
		t.Errorf("Apply: %v %+v", err, got)
	}
	_, err = run(map[string]string{"GO402_DB_A": "x", "GO402_DB_B": "y", "GO402_LISTEN": ":1"})
	if err == nil || err.Error() != "c.yaml: db (from GO402_DB_A and GO402_DB_B): set only one of them" {
		t.Errorf("exclusive: %v", err)
	}
	got, err = run(map[string]string{"GO402_OLD": "debug", "GO402_LISTEN": ":1"})
	if err == nil || !strings.Contains(err.Error(), "GO402_OLD is no longer read: rename it GO402_LOG_LEVEL") || len(got) != 0 {
		t.Errorf("retired: %v %+v", err, got)
	}
	_, err = run(map[string]string{"GO402_LISTEN": "bad", "GO402_LOG_LEVEL": "bad"})
	var fe *FieldError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "listen (from GO402_LISTEN): bad value") || !strings.Contains(err.Error(), "logLevel (from GO402_LOG_LEVEL)") {
		t.Errorf("set errors: %v", err)
	}
	if err := e.Apply("c.yaml", nil, nil); err != nil {
		t.Errorf("nil environment: %v", err)
	}
}

func TestParse(t *testing.T) {
	e := Env{Keys: []string{"name"}}
	run := func(doc string, env map[string]string) (*sample, []string, error) {
		s := &sample{origins: Origins{File: "c.yaml"}}
		var sets []string
		err := Parse(&s.origins, []byte(doc), mapEnv(env), s.fields(), e, func(k, v, src string) error {
			if v == "bad" {
				return &FieldError{File: "c.yaml", Source: src, Field: k, Msg: "bad value"}
			}
			s.Name = v
			s.origins.Record(k, Origin{Source: src})
			sets = append(sets, k)
			return nil
		})
		return s, sets, err
	}
	s, sets, err := run("name: file\n", map[string]string{"GO402_NAME": "env"})
	if err != nil || s.Name != "env" || len(sets) != 1 {
		t.Errorf("the environment overrides the file: %v %q", err, s.Name)
	}
	if got := s.origins.Errorf("name", "x").Error(); got != "c.yaml: name (from GO402_NAME): x" {
		t.Errorf("an overridden key is reported at its variable: %q", got)
	}
	// Problems of the file and of the environment come together...
	_, _, err = run("on: maybe\n", map[string]string{"GO402_NAME": "bad"})
	if err == nil || !strings.Contains(err.Error(), "c.yaml:1: on: must be true or false") || !strings.Contains(err.Error(), "name (from GO402_NAME): bad value") {
		t.Errorf("joined problems: %v", err)
	}
	// ...but a file that is not YAML stops there.
	_, sets, err = run("name: [\n", map[string]string{"GO402_NAME": "env"})
	if err == nil || !strings.Contains(err.Error(), "invalid YAML") || len(sets) != 0 {
		t.Errorf("syntax error: %v, set %v", err, sets)
	}
}
