package main

import (
	"bytes"
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
	"path/filepath"
	"sync"
	"time"
)

// TLS for tills: the till listener wrapped in tls.NewListener, so
// posbridge never knows; the certificate is read again when its files
// change, so a renewal needs no restart.

// certCheckEvery is how often the certificate files are checked for a
// change: renewals are rare, and a stat every few seconds is nothing.
const certCheckEvery = 3 * time.Second

// selfSignedValidity is how long a patron dev self-signed pair lasts.
const selfSignedValidity = 365 * 24 * time.Hour

// certReloader serves the certificate of a cert/key file pair and reads
// them again when either changes. A pair that does not load (half
// written, mismatched) keeps the previous certificate and is logged once
// per change.
type certReloader struct {
	certFile, keyFile string
	every             time.Duration
	log               *slog.Logger

	mu      sync.Mutex // guards following
	cert    *tls.Certificate
	stamp   fileStamp // of the pair the last load attempt read
	loadErr error     // of the last attempt; nil if it served
}

// fileStamp identifies a version of the pair by modification time and size.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// newCertReloader loads the pair once; failing here is fatal.
func newCertReloader(certFile, keyFile string, logger *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, every: certCheckEvery, log: logger}
	st, err := r.statPair()
	if err != nil {
		return nil, err
	}
	cert, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.cert, r.stamp = cert, st
	return r, nil
}

// tlsConfig is the listener's configuration.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate}
}

func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cert, nil
}

// reload reads the pair again if it changed since the last attempt.
func (r *certReloader) reload() {
	st, err := r.statPair()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if r.loadErr == nil || r.loadErr.Error() != err.Error() {
			r.log.Error("pos TLS: certificate files unreadable; keeping the certificate served", "err", err)
		}
		r.loadErr = err
		return
	}
	if st == r.stamp && r.loadErr == nil {
		return
	}
	r.stamp = st
	cert, err := loadKeyPair(r.certFile, r.keyFile)
	if err != nil {
		if r.loadErr == nil || r.loadErr.Error() != err.Error() {
			r.log.Error("pos TLS: changed certificate does not load; keeping the certificate served", "err", err)
		}
		r.loadErr = err
		return
	}
	r.cert, r.loadErr = cert, nil
	r.log.Info("pos TLS: certificate read again", "file", r.certFile, "not_after", cert.Leaf.NotAfter)
}

func (r *certReloader) statPair() (fileStamp, error) {
	c, err := os.Stat(r.certFile)
	if err != nil {
		return fileStamp{}, err
	}
	k, err := os.Stat(r.keyFile)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// component checks the files every r.every until stopped.
func (r *certReloader) component() component {
	ctx, cancel := context.WithCancel(context.Background())
	return component{
		name: "pos TLS reloader",
		run: func() error {
			t := time.NewTicker(r.every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
					r.reload()
				}
			}
		},
		stop: func(context.Context) error { cancel(); return nil },
	}
}

// loadKeyPair loads a PEM pair and parses its leaf.
func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &cert, nil
}

// selfSignedPair returns DIR/pos-tls/cert.pem and key.pem, writing a new
// self-signed pair for localhost, 127.0.0.1 and ::1 (and hosts) unless a
// pair that loads and has more than a day left is there already.
func selfSignedPair(dataDir string, hosts []string) (certFile, keyFile string, created bool, err error) {
	dir := filepath.Join(dataDir, "pos-tls")
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if c, err := loadKeyPair(certFile, keyFile); err == nil && time.Until(c.Leaf.NotAfter) > 24*time.Hour {
		return certFile, keyFile, false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", false, fmt.Errorf("self-signed pos TLS: %w", err)
	}
	certPEM, keyPEM, err := makeSelfSigned(append([]string{"localhost", "127.0.0.1", "::1"}, hosts...), time.Now())
	if err != nil {
		return "", "", false, fmt.Errorf("self-signed pos TLS: %w", err)
	}
	// Key first: a reloader that sees the new certificate finds its key.
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return "", "", false, err
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return "", "", false, err
	}
	return certFile, keyFile, true, nil
}

// makeSelfSigned makes an ECDSA P-256 certificate that is its own CA, so
// a till can trust exactly it (patron pos --ca cert.pem).
func makeSelfSigned(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0], Organization: []string{"Patron dev"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// rootsFromFile reads PEM certificates a till trusts (patron pos --ca).
func rootsFromFile(path string) (*x509.CertPool, error) {
	data, err := readLimited(path, maxSecretFileBytes)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) || !bytes.Contains(data, []byte("CERTIFICATE")) {
		return nil, errors.New("--ca: no PEM certificate in " + path)
	}
	return pool, nil
}

// newPOSTLS returns the till listener's certificate reloader, or nil when
// tills are served in clear (no --pos-tls-cert).
func newPOSTLS(c frontConfig, logger *slog.Logger) (*certReloader, error) {
	if c.tlsCert == "" {
		return nil, nil
	}
	r, err := newCertReloader(c.tlsCert, c.tlsKey, logger)
	if err != nil {
		return nil, fmt.Errorf("pos TLS: %w", err)
	}
	return r, nil
}

// listenPOS listens for tills, over TLS when r is not nil.
func listenPOS(addr string, r *certReloader) (net.Listener, error) {
	ln, err := listenTCP("pos", addr)
	if err != nil || r == nil {
		return ln, err
	}
	return tls.NewListener(ln, r.tlsConfig()), nil
}

// posURL is the till endpoint a client dials.
func posURL(a net.Addr, secure bool) string {
	if secure {
		return "wss://" + dialable(a) + "/pos/v1"
	}
	return "ws://" + dialable(a) + "/pos/v1"
}
