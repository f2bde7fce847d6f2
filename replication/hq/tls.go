package hq

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// tlsStream is raft's StreamLayer over mutual TLS on TCP. Raft needs a
// byte stream; every connection in either direction is TLS 1.3 (at
// least 1.2 if the caller's config asks) with a certificate the cluster
// CA verifies.
type tlsStream struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config
	client    *tls.Config
	timeout   time.Duration // dial and handshake bound
	dial      func(ctx context.Context, addr string) (net.Conn, error)
	log       *slog.Logger
	rejected  func()

	mu       sync.Mutex // guards following
	accepted map[*serverConn]struct{}
	closed   bool
}

// newTLSStream makes the stream layer; dial nil dials TCP directly.
func newTLSStream(ln net.Listener, advertise net.Addr, cfg *tls.Config, timeout time.Duration,
	dial func(context.Context, string) (net.Conn, error), log *slog.Logger, rejected func()) *tlsStream {
	server := cfg.Clone()
	server.ClientAuth = tls.RequireAndVerifyClientCert
	if server.MinVersion < tls.VersionTLS12 {
		server.MinVersion = tls.VersionTLS13
	}
	client := cfg.Clone()
	if client.MinVersion < tls.VersionTLS12 {
		client.MinVersion = tls.VersionTLS13
	}
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	return &tlsStream{ln: ln, advertise: advertise, server: server, client: client,
		timeout: timeout, dial: dial, log: log, rejected: rejected}
}

// Accept returns the next inbound connection. Its handshake runs on the
// connection's first Read or Write, in raft's per-connection goroutine,
// so one slow or hostile peer never blocks the accept loop; it is bounded
// by the dial timeout.
func (s *tlsStream) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	sc := &serverConn{Conn: tls.Server(c, s.server), s: s}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	if s.accepted == nil {
		s.accepted = map[*serverConn]struct{}{}
	}
	s.accepted[sc] = struct{}{}
	return sc, nil
}

// Close stops accepting and closes the connections peers opened to this
// node: raft's transport never closes them, and their handlers would
// otherwise read until each peer hung up.
func (s *tlsStream) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := s.accepted
	s.accepted = nil
	s.mu.Unlock()
	err := s.ln.Close()
	for c := range conns {
		c.Conn.Close()
	}
	return err
}
func (s *tlsStream) Addr() net.Addr { return s.advertise }

// Dial connects to a peer (through Config.Dial when set) and completes
// the TLS handshake, both within the smaller of raft's timeout and the
// configured one.
func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 || timeout > s.timeout {
		timeout = s.timeout
	}
	cfg := s.client
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(string(address))
		if err != nil {
			return nil, fmt.Errorf("hq: dial %s: %w", address, err)
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	raw, err := s.dial(ctx, string(address))
	if err != nil {
		return nil, fmt.Errorf("hq: dial %s: %w", address, err)
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("hq: dial %s: %w", address, err)
	}
	return c, nil
}

// serverConn completes the server handshake, bounded in time, before the
// first byte is read or written.
type serverConn struct {
	*tls.Conn
	s    *tlsStream
	once sync.Once
	err  error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.s.timeout)
		defer cancel()
		if err := c.Conn.HandshakeContext(ctx); err != nil {
			c.err = fmt.Errorf("hq: TLS handshake from %s: %w", c.RemoteAddr(), err)
			// Nobody above sees this error but raft's decode log, and an
			// unknown peer knocking is what an operator must see.
			c.s.rejected()
			c.s.log.Warn("raft peer rejected", "remote", c.RemoteAddr().String(), "err", err)
		}
	})
	return c.err
}

// Close closes the connection and forgets it.
func (c *serverConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.accepted, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

func (c *serverConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *serverConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// CA is a certificate authority for an HQ cluster's mutual TLS. NewCA
// makes one in memory for tests and local development clusters;
// production clusters use certificates from files (LoadTLS).
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

// Validity of the certificates NewCA and CA.Issue make: a development
// cluster lives for days, not years.
const devCertValidity = 30 * 24 * time.Hour

// NewCA makes a self-signed ECDSA P-256 CA named name.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("hq: CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Patron HQ"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(devCertValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("hq: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("hq: CA certificate: %w", err)
	}
	return &CA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// CertPEM is the CA certificate, to write next to node certificates.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// KeyPEM is the CA's private key, so a development cluster's CA can be
// kept (patron hq certs writes it next to ca.pem, mode 0600) and issue a
// certificate for a node that joins later. Keep it off the HQ nodes.
func (ca *CA) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(ca.key)
	if err != nil {
		return nil, fmt.Errorf("hq: CA key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// ParseCA reads back a CA written with CertPEM and KeyPEM.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("hq: CA: no certificate in PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("hq: CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("hq: CA: certificate is not a CA")
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil || kb.Type != "EC PRIVATE KEY" {
		return nil, errors.New("hq: CA: no EC private key in PEM")
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("hq: CA key: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("hq: CA: key does not match certificate")
	}
	return &CA{cert: cert, key: key, certPEM: pem.EncodeToMemory(cb)}, nil
}

// Issue makes a node certificate for id, valid as both TLS server and
// client, naming localhost, 127.0.0.1, ::1, id and hosts (DNS names or
// IPs) so that peers dialling any of them verify it.
func (ca *CA) Issue(id string, hosts ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("hq: node key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: id, Organization: []string{"Patron HQ"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(devCertValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"localhost", id},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("hq: node certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("hq: node key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// NodeTLS issues a certificate for id and returns the mutual-TLS
// configuration for Config.TLS.
func (ca *CA) NodeTLS(id string, hosts ...string) (*tls.Config, error) {
	certPEM, keyPEM, err := ca.Issue(id, hosts...)
	if err != nil {
		return nil, err
	}
	return NewTLSConfig(certPEM, keyPEM, ca.certPEM)
}

// NewTLSConfig builds the mutual-TLS configuration for Config.TLS from a
// node certificate and key and the cluster CA, all PEM.
func NewTLSConfig(certPEM, keyPEM, caPEM []byte) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("hq: node certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("hq: CA: no certificate in PEM")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// LoadTLS reads a node certificate, its key and the cluster CA from PEM
// files (production: `patron hq --tls-cert --tls-key --tls-ca`).
func LoadTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	var pems [3][]byte
	for i, f := range []string{certFile, keyFile, caFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("hq: load TLS: %w", err)
		}
		pems[i] = b
	}
	return NewTLSConfig(pems[0], pems[1], pems[2])
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on supported platforms.
		panic("hq: crypto/rand failed: " + err.Error())
	}
	return n
}
