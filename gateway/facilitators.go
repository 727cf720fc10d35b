package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/go402/go402/facilitator/failover"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/internal/yamlconf"
	"github.com/go402/go402/x402"
)

// maxFacilitators bounds the facilitators list.
const maxFacilitators = 8

// decodeFacilitators decodes the "facilitators" key: a list of URLs or
// mappings {url, apiKeyEnv, reservesFunds}.
func (c *Config) decodeFacilitators(v yamlconf.Value) {
	v.List(func(v yamlconf.Value) {
		var f Facilitator
		if v.IsMapping() {
			v.Fields(yamlconf.Fields{
				"url":           func(v yamlconf.Value) { v.String(&f.URL) },
				"apiKeyEnv":     func(v yamlconf.Value) { v.String(&f.APIKeyEnv) },
				"reservesFunds": func(v yamlconf.Value) { v.Bool(&f.ReservesFunds) },
			})
		} else {
			v.String(&f.URL)
		}
		c.Facilitators = append(c.Facilitators, f)
	})
}

// forgetFacilitators drops the list, replaced by an environment variable
// or a flag setting the single facilitator.
func (c *Config) forgetFacilitators() {
	c.Facilitators = nil
	c.origins.Forget("facilitators")
}

// facilitators validates the "facilitators" list.
func (v *validator) facilitators() {
	list := v.c.Facilitators
	if len(list) == 0 {
		return
	}
	f := v.c.Facilitator
	if f.URL != "" || f.APIKeyEnv != "" || f.ReservesFunds || f.Embedded.Devnet {
		v.fail("facilitators", "set either facilitator or facilitators, not both")
	}
	if len(list) > maxFacilitators {
		v.fail("facilitators", "lists %d facilitators; at most %d", len(list), maxFacilitators)
	}
	seen := map[string]int{}
	for i, e := range list {
		key := fmt.Sprintf("facilitators[%d]", i)
		urlKey := key
		if e.APIKeyEnv != "" || e.ReservesFunds {
			urlKey = key + ".url"
		}
		if msg := facilitatorURLProblem(e.URL); msg != "" {
			v.fail(urlKey, "%s", msg)
		} else if j, dup := seen[strings.TrimRight(e.URL, "/")]; dup {
			v.fail(urlKey, "repeats facilitators[%d]", j)
		} else {
			seen[strings.TrimRight(e.URL, "/")] = i
		}
		if e.APIKeyEnv != "" && !yamlconf.IsEnvName(e.APIKeyEnv) {
			// Never quote the value: a token pasted here must not leak.
			v.fail(key+".apiKeyEnv", "must be the name of an environment variable (letters, digits and _), not the token itself")
		}
	}
}

// facilitatorURLProblem says what is wrong with a remote facilitator's
// URL, or "".
func facilitatorURLProblem(s string) string {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return "a facilitator URL is required"
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return "must be an http:// or https:// URL"
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "must not contain credentials, a query or a fragment (use apiKeyEnv for a token)"
	}
	return ""
}

// remoteFacilitator builds a client for the remote facilitator f, whose
// keys are under key (urlKey for its URL, in messages), and returns it
// with what it was built from.
func (g *Gateway) remoteFacilitator(cfg *Config, f Facilitator, key, urlKey string) (*remote.Client, string, error) {
	var token string
	if f.APIKeyEnv != "" {
		getenv := cfg.env
		if getenv == nil {
			getenv = os.Getenv
		}
		if token = getenv(f.APIKeyEnv); token == "" {
			return nil, "", cfg.fieldError(key+".apiKeyEnv", "environment variable %s is not set", f.APIKeyEnv)
		}
	}
	rc := remote.Config{URL: f.URL, Logger: g.log, ReservesFunds: f.ReservesFunds}
	if token != "" {
		rc.Headers = func(context.Context, string) (http.Header, error) {
			return http.Header{"Authorization": {"Bearer " + token}}, nil
		}
	}
	c, err := remote.New(rc)
	if err != nil {
		return nil, "", cfg.fieldError(urlKey, "%v", err)
	}
	return c, fmt.Sprintf("remote\x00%s\x00%s\x00%t", f.URL, token, f.ReservesFunds), nil
}

// failoverFacilitator builds the facilitator of the "facilitators" list,
// reusing the previous one when the list did not change (its members'
// back-offs and held payments are kept across reloads).
func (g *Gateway) failoverFacilitator(cfg *Config) (x402.Facilitator, string, error) {
	members := make([]x402.Facilitator, len(cfg.Facilitators))
	names := make([]string, len(cfg.Facilitators))
	keys := make([]string, len(cfg.Facilitators))
	for i, f := range cfg.Facilitators {
		key := fmt.Sprintf("facilitators[%d]", i)
		c, k, err := g.remoteFacilitator(cfg, f, key, key)
		if err != nil {
			return nil, "", err
		}
		members[i], names[i], keys[i] = c, f.URL, k
	}
	key := "failover\x00" + strings.Join(keys, "\x01")
	if g.remote != nil && g.remoteKey == key {
		return g.remote, key, nil
	}
	fo, err := failover.New(members, failover.Options{Names: names, Logger: g.log})
	if err != nil {
		return nil, "", cfg.fieldError("facilitators", "%v", err)
	}
	g.remote, g.remoteKey = fo, key
	return fo, key, nil
}
