package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/flotilla-ipfs/flotilla/internal/auth"
	"github.com/flotilla-ipfs/flotilla/internal/kuborpc"
	"github.com/flotilla-ipfs/flotilla/internal/pinsvc"
	"github.com/flotilla-ipfs/flotilla/internal/restapi"
)

// AuthConfig guards the admin ports: the cluster REST API, the Pinning
// Service API and the Kubo RPC API.
type AuthConfig struct {
	// UsersFile lists the users with their password hashes and scopes;
	// empty: <data>/api-users.json, created on the first start when an
	// admin port is bound beyond loopback.
	UsersFile string
	// AdminPassword, when set, defines the "admin" user (replacing one of
	// the users file) with this password, hashed in memory and stored
	// nowhere. It exists for platforms that inject secrets as environment
	// variables (ECS secrets from Secrets Manager): give it as
	// FLOTILLA_API_ADMIN_PASSWORD, never on a command line.
	AdminPassword string
	// TLSCert and TLSKey (PEM files) serve the admin ports over HTTPS.
	TLSCert, TLSKey string
	// TrustedProxies (CIDRs) are load balancers whose X-Forwarded-For
	// names the client.
	TrustedProxies []string
}

// DefaultUsersFile is the users file kept in the data directory.
const DefaultUsersFile = "api-users.json"

func (c AuthConfig) validate() error {
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("tls-cert and tls-key go together")
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			return fmt.Errorf("api-trusted-proxies: %w", err)
		}
	}
	return nil
}

// adminAPIs are the services the guard wraps, with each API's rule and
// error shape.
var adminAPIs = map[string]struct {
	rule auth.Rule
	fail auth.ErrorWriter
}{
	"api":    {restapi.Scope, restapi.WriteError},
	"rpc":    {kuborpc.Scope, kuborpc.WriteError},
	"pinsvc": {pinsvc.Scope, pinsvc.WriteError},
}

// guardServices puts the admin services behind authentication and, when
// configured, TLS. An admin port bound beyond loopback never runs open:
// with no users file, the first start creates one with an admin user
// whose password is logged once and stored nowhere. It returns the guard,
// for the web console's logins.
func guardServices(cfg Config, tokens *auth.Tokens, services []service, log *slog.Logger) (*auth.Guard, error) {
	path := cfg.Auth.UsersFile
	if path == "" && cfg.Auth.AdminPassword == "" {
		path = filepath.Join(cfg.Data, DefaultUsersFile)
		exposed := ""
		for _, s := range services {
			if _, _, ok := adminAPI(cfg, s.name); ok && s.addr != "" && !loopbackOnly(s.addr) {
				exposed = s.name + " on " + s.addr
				break
			}
		}
		if exposed != "" {
			password, err := auth.Bootstrap(path)
			if err != nil {
				return nil, fmt.Errorf("create the admin credential: %w", err)
			}
			if password != "" {
				log.Warn("generated the admin credential, shown only this once: keep it, only its hash is stored",
					"user", "admin", "password", password, "file", path, "because", exposed+" is reachable beyond loopback")
			}
		}
	}
	var users []auth.User
	if _, err := os.Stat(path); err == nil || cfg.Auth.UsersFile != "" {
		if users, err = auth.LoadUsers(path); err != nil {
			return nil, fmt.Errorf("api-auth-file: %w", err)
		}
		if len(users) == 0 {
			return nil, fmt.Errorf("api-auth-file %s lists no users: nobody could use the admin APIs", path)
		}
	}
	if cfg.Auth.AdminPassword != "" {
		hash, err := auth.HashPassword(cfg.Auth.AdminPassword)
		if err != nil {
			return nil, fmt.Errorf("api-admin-password: %w", err)
		}
		users = slices.DeleteFunc(users, func(u auth.User) bool { return u.Name == "admin" })
		users = append(users, auth.User{Name: "admin", PasswordHash: hash, Scope: auth.ScopeAdmin})
	}
	var proxies []netip.Prefix
	for _, p := range cfg.Auth.TrustedProxies {
		proxies = append(proxies, netip.MustParsePrefix(p)) // validated
	}
	guard, err := auth.NewGuard(auth.Config{Users: users, Tokens: tokens, TrustedProxies: proxies, Audit: log.With("component", "audit")})
	if err != nil {
		return nil, err
	}
	var tlsConf *tls.Config
	if cfg.Auth.TLSCert != "" {
		certs, err := newCertReloader(cfg.Auth.TLSCert, cfg.Auth.TLSKey)
		if err != nil {
			return nil, err
		}
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
	}
	for i, s := range services {
		rule, fail, ok := adminAPI(cfg, s.name)
		if !ok {
			continue
		}
		services[i].handler = guard.Wrap(s.name, rule, fail, s.handler)
		services[i].tls = tlsConf
	}
	log.Info("admin APIs", "auth", guard.Enabled(), "users", len(users), "users_file", path, "tls", tlsConf != nil)
	return guard, nil
}

// loopbackOnly reports whether addr (host:port) accepts only local
// connections.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// certReloader serves the certificate from its files, reloading it when
// they change, so that a renewed certificate needs no restart.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime time.Time
	checked time.Time
}

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certReloader) load() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls-cert/tls-key: %w", err)
	}
	fi, err := os.Stat(c.certFile)
	if err != nil {
		return err
	}
	c.cert, c.modTime = &cert, fi.ModTime()
	return nil
}

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Look at the files at most every few seconds, not on every handshake.
	if now := time.Now(); now.Sub(c.checked) > 5*time.Second {
		c.checked = now
		if fi, err := os.Stat(c.certFile); err == nil && !fi.ModTime().Equal(c.modTime) {
			// A half-written pair fails to load: keep serving the old
			// one until the files are whole.
			_ = c.load()
		}
	}
	return c.cert, nil
}
