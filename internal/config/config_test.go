package config_test

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/flotilla-ipfs/flotilla/internal/config"
)

type settings struct {
	listen string
	peers  []string
	port   int
	secret string
}

func flags(s *settings) *pflag.FlagSet {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.StringVar(&s.listen, "rpc-listen", "127.0.0.1:5001", "")
	fs.StringArrayVar(&s.peers, "bootstrap", []string{"default"}, "")
	fs.IntVar(&s.port, "conn-low", 600, "")
	fs.StringVar(&s.secret, "cluster-secret", "", "")
	config.MarkSecret(fs, "cluster-secret")
	return fs
}

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestOverlayPrecedence(t *testing.T) {
	var s settings
	fs := flags(&s)
	if err := fs.Parse([]string{"--rpc-listen", "from-flag:1"}); err != nil {
		t.Fatal(err)
	}
	e := env(map[string]string{"FLOTILLA_RPC_LISTEN": "from-env:2", "FLOTILLA_BOOTSTRAP": "a, b"})
	file := config.File{"rpc-listen": "from-file:3", "bootstrap": []any{"x"}, "conn-low": float64(42)}
	if err := config.Overlay(fs, e, file); err != nil {
		t.Fatal(err)
	}
	if s.listen != "from-flag:1" {
		t.Errorf("rpc-listen = %q, want the flag's value", s.listen)
	}
	if strings.Join(s.peers, ",") != "a,b" {
		t.Errorf("bootstrap = %v, want the environment's [a b] replacing the default", s.peers)
	}
	if s.port != 42 {
		t.Errorf("conn-low = %d, want the file's 42", s.port)
	}
}

func TestOverlayErrorsNameTheirSource(t *testing.T) {
	cases := []struct {
		env  map[string]string
		file config.File
		want string
	}{
		{map[string]string{"FLOTILLA_CONN_LOW": "many"}, nil, "FLOTILLA_CONN_LOW"},
		{nil, config.File{"conn-low": "many"}, `config file key "conn-low"`},
		{nil, config.File{"rpc-lisen": "x"}, `"rpc-lisen": no such setting`},
	}
	for _, tc := range cases {
		var s settings
		fs := flags(&s)
		err := config.Overlay(fs, env(tc.env), tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Overlay(%v, %v) = %v, want an error mentioning %q", tc.env, tc.file, err, tc.want)
		}
	}
}

func TestShowRedactsSecrets(t *testing.T) {
	var s settings
	fs := flags(&s)
	fs.Parse([]string{"--cluster-secret", "hunter2"})
	shown := config.Show(fs)
	if shown["cluster-secret"] != "<redacted>" {
		t.Fatalf("Show cluster-secret = %v, want <redacted>", shown["cluster-secret"])
	}
	if got := shown["bootstrap"].([]string); len(got) != 1 || got[0] != "default" {
		t.Fatalf("Show bootstrap = %v", got)
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{"gateway-listen": "FLOTILLA_GATEWAY_LISTEN", "data": "FLOTILLA_DATA"} {
		if got := config.EnvName(flag); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", flag, got, want)
		}
	}
}

// A command-line-only flag ignores the environment and the file: a pin's
// replication must not come from FLOTILLA_REPLICATION_MIN, the daemon's.
func TestCommandLineOnlyFlags(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	repl := fs.Int("replication-min", 0, "")
	config.MarkCommandLineOnly(fs, "replication-min")
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	err := config.Overlay(fs, env(map[string]string{"FLOTILLA_REPLICATION_MIN": "3"}), config.File{"replication-min": float64(4)})
	if err != nil || *repl != 0 || fs.Changed("replication-min") {
		t.Errorf("replication-min = %d (changed %v, err %v), want 0 and unchanged", *repl, fs.Changed("replication-min"), err)
	}
}
