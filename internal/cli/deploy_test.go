package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"go.yaml.in/yaml/v3"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/facilitator/config"
	"github.com/go402/go402/gateway"
	"github.com/go402/go402/health"
)

// The packaging examples (Dockerfile, deploy/) are checked here, since
// Docker cannot run in the tests: the compose file parses, its go402
// services' commands use real flags and configuration files that load,
// and its environment variables are real overrides or ${NAME}s the files
// read; the entry points start with the documented arguments.

const deployDir = "../../deploy"

type composeService struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
}

func loadCompose(t *testing.T) map[string]composeService {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return doc.Services
}

// composeEnv is the service's environment with compose's ${NAME...}
// interpolation replaced by the value test gives (or "x").
func composeEnv(svc composeService, values map[string]string) map[string]string {
	re := regexp.MustCompile(`\$\{([A-Z0-9_]+)[^}]*\}`)
	out := map[string]string{}
	for k, v := range svc.Environment {
		out[k] = re.ReplaceAllStringFunc(v, func(m string) string {
			name := re.FindStringSubmatch(m)[1]
			if x, ok := values[name]; ok {
				return x
			}
			return "x"
		})
	}
	return out
}

// mountedFile returns the deploy/ file mounted at path in the container.
func mountedFile(t *testing.T, svc composeService, path string) string {
	t.Helper()
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == path {
			return filepath.Join(deployDir, parts[0])
		}
	}
	t.Fatalf("nothing is mounted at %s (volumes %v)", path, svc.Volumes)
	return ""
}

// helpFlags returns the flags the help of the go402 subcommand lists.
func helpFlags(t *testing.T, sub string) string {
	var out, errb syncBuffer
	Run(t.Context(), []string{sub, "--help"}, strings.NewReader(""), &out, &errb)
	return out.String() + errb.String()
}

func checkFlags(t *testing.T, what string, args []string) {
	t.Helper()
	help := helpFlags(t, args[0])
	for _, a := range args[1:] {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			if !strings.Contains(help, "\n  --"+name+" ") && !strings.Contains(help, "\n  --"+name+"\n") {
				t.Errorf("%s: go402 %s has no flag --%s", what, args[0], name)
			}
		}
	}
}

func TestDeployComposeFile(t *testing.T) {
	services := loadCompose(t)
	for _, name := range []string{"postgres", "facilitator-1", "facilitator-2", "gateway", "prometheus"} {
		if _, ok := services[name]; !ok {
			t.Fatalf("no service %s", name)
		}
	}
	facEnv := map[string]bool{"GO402_FACILITATOR_KEY": true} // signer.privateKeyEnv's default
	for _, kv := range config.EnvOverrides() {
		facEnv[kv[0]] = true
	}
	gwEnv := map[string]bool{}
	for _, kv := range gateway.EnvOverrides() {
		gwEnv[kv[0]] = true
	}
	for _, name := range []string{"facilitator-1", "facilitator-2", "gateway"} {
		svc := services[name]
		if len(svc.Command) < 3 || svc.Command[1] != "--config" {
			t.Fatalf("%s: command %q, want <subcommand> --config FILE", name, svc.Command)
		}
		checkFlags(t, name, svc.Command)
		file := mountedFile(t, svc, svc.Command[2])
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		env := composeEnv(svc, map[string]string{"GO402_PAY_TO": "0x000000000000000000000000000000000000dEaD", "BASE_SEPOLIA_RPC_URL": "https://base-sepolia.example/v2/KEY"})
		known := facEnv
		if svc.Command[0] == "gateway" {
			known = gwEnv
		}
		for k := range env {
			if !known[k] && !strings.Contains(string(body), "${"+k+"}") {
				t.Errorf("%s: environment variable %s is neither a go402 %s override nor read by %s", name, k, svc.Command[0], file)
			}
		}
		getenv := func(k string) string { return env[k] }
		switch svc.Command[0] {
		case "facilitator":
			cfg, err := config.Parse(file, body, getenv)
			if err == nil {
				err = cfg.Validate()
			}
			if err != nil {
				t.Errorf("%s: %v", name, err)
			} else if cfg.Database.Postgres == "" || cfg.Instance != name {
				t.Errorf("%s: database %+v, instance %q: want the shared PostgreSQL and its own instance name", name, cfg.Database, cfg.Instance)
			}
		case "gateway":
			cfg, err := gateway.Parse(file, body, getenv)
			if err == nil {
				err = cfg.Validate()
			}
			if err != nil {
				t.Errorf("%s: %v", name, err)
			} else if len(cfg.Facilitators) != 2 {
				t.Errorf("gateway: %d facilitators, want both instances", len(cfg.Facilitators))
			}
		default:
			t.Errorf("%s: unknown subcommand %q", name, svc.Command[0])
		}
	}
	// Prometheus scrapes both facilitators and the gateway on their ports.
	b, err := os.ReadFile(filepath.Join(deployDir, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var prom struct {
		ScrapeConfigs []struct {
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &prom); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	var targets []string
	for _, sc := range prom.ScrapeConfigs {
		if sc.MetricsPath != "/metrics" {
			t.Errorf("metrics_path %q, want /metrics", sc.MetricsPath)
		}
		for _, s := range sc.StaticConfigs {
			targets = append(targets, s.Targets...)
		}
	}
	for _, want := range []string{"facilitator-1:4022", "facilitator-2:4022", "gateway:8402"} {
		if !slices.Contains(targets, want) {
			t.Errorf("prometheus does not scrape %s (targets %v)", want, targets)
		}
	}
}

// The Dockerfile's entry point and command, and the systemd unit's
// ExecStart, are go402 with real subcommands and flags.
func TestDeployDockerfileAndUnit(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{`ENTRYPOINT ["go402"]`, "CGO_ENABLED=1", "./cmd/go402", "\nUSER 10402:10402\n", "FROM debian:bookworm-slim"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	var cmd []string
	for line := range strings.SplitSeq(df, "\n") {
		if rest, ok := strings.CutPrefix(line, "CMD "); ok {
			if err := json.Unmarshal([]byte(rest), &cmd); err != nil {
				t.Fatalf("CMD %s: %v", rest, err)
			}
		}
	}
	if len(cmd) == 0 || cmd[0] != "facilitator" {
		t.Fatalf("CMD %q", cmd)
	}
	checkFlags(t, "Dockerfile CMD", cmd)
	u, err := os.ReadFile(filepath.Join(deployDir, "systemd", "go402-facilitator.service"))
	if err != nil {
		t.Fatal(err)
	}
	var exec []string
	for line := range strings.SplitSeq(string(u), "\n") {
		if rest, ok := strings.CutPrefix(line, "ExecStart="); ok {
			exec = strings.Fields(rest)
		}
	}
	if len(exec) < 2 || filepath.Base(exec[0]) != "go402" || exec[1] != "facilitator" {
		t.Fatalf("ExecStart %q", exec)
	}
	checkFlags(t, "systemd ExecStart", exec[1:])
	for _, want := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "User=go402"} {
		if !strings.Contains(string(u), want) {
			t.Errorf("the unit lacks %s", want)
		}
	}
}

// The compose file's go402 commands, run as documented (with the
// environment compose gives them, pointed at a devnet on Base Sepolia's
// chain id and a SQLite ledger instead of PostgreSQL), start and answer
// /health and /ready with 200.
func TestDeployEntryPoints(t *testing.T) {
	d, err := devnet.Start(t.Context(), devnet.Config{Accounts: 3, ChainID: 84532, RPCAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	services := loadCompose(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	var running []chan int
	t.Cleanup(func() {
		cancel()
		for _, done := range running {
			<-done
		}
	})
	start := func(name string, env map[string]string, extra ...string) (*syncBuffer, chan int) {
		svc := services[name]
		for k, v := range env {
			t.Setenv(k, v) // read once, at start-up
		}
		args := slices.Clone(svc.Command)
		args[2] = mountedFile(t, svc, svc.Command[2])
		args = append(args, extra...)
		var out syncBuffer
		done := make(chan int, 1)
		go func() { done <- Run(ctx, args, strings.NewReader(""), &out, &out) }()
		running = append(running, done)
		return &out, done
	}
	key := hex.EncodeToString(crypto.FromECDSA(d.Accounts()[2].PrivateKey))
	var facURLs []string
	for _, name := range []string{"facilitator-1", "facilitator-2"} {
		env := composeEnv(services[name], map[string]string{"GO402_FACILITATOR_KEY": key, "BASE_SEPOLIA_RPC_URL": d.RPCURL()})
		delete(env, "GO402_DATABASE_POSTGRES")
		env["GO402_DATABASE_SQLITE"] = filepath.Join(dir, "ledger.db") // one ledger, as the PostgreSQL one
		env["GO402_LISTEN"] = "127.0.0.1:0"
		info := filepath.Join(dir, name+".json")
		out, done := start(name, env, "--info-file", info)
		wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
		var fi facilitatorInfo
		waitInfo(t, wctx, info, &fi, func() (string, bool) {
			select {
			case code := <-done:
				return fmt.Sprintf("code %d: %s", code, out.String()), true
			default:
				return "", false
			}
		})
		wcancel()
		facURLs = append(facURLs, fi.URL)
	}
	gwAddr := closedPort(t)
	env := composeEnv(services["gateway"], map[string]string{"GO402_PAY_TO": d.Accounts()[1].Address.Hex()})
	env["GO402_LISTEN"] = gwAddr
	env["GO402_QUEUE_SQLITE"] = filepath.Join(dir, "queue.db")
	env["FACILITATOR_1_URL"], env["FACILITATOR_2_URL"] = facURLs[0], facURLs[1]
	gwOut, gwDone := start("gateway", env)

	want := map[string][]string{
		facURLs[0]:         {"ledger", "rpc eip155:84532", "gas eip155:84532"},
		facURLs[1]:         {"ledger", "rpc eip155:84532", "gas eip155:84532"},
		"http://" + gwAddr: {"queue", "facilitator"},
	}
	for base, checks := range want {
		probe(t, base+"/health", gwDone, gwOut, nil)
		var rep health.Report
		probe(t, base+"/ready", gwDone, gwOut, &rep)
		var names []string
		for _, c := range rep.Checks {
			names = append(names, c.Name)
		}
		if !slices.Equal(names, checks) {
			t.Errorf("%s/ready checks %v, want %v", base, names, checks)
		}
	}
}

// probe GETs url until it answers 200 (within 30 s), decoding the body
// into v if not nil.
func probe(t *testing.T, url string, done chan int, out *syncBuffer, v any) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, err := call(t.Context(), http.MethodGet, url, nil, v)
		if err == nil && status == http.StatusOK {
			return
		}
		select {
		case code := <-done:
			t.Fatalf("%s: the gateway exited with %d: %s", url, code, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %d, %v (report %+v)", url, status, err, v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
