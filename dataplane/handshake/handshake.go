package handshake

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/logging"
	"github.com/pion/srtp/v3"
)

// Errors of the handshake.
var (
	// ErrFingerprint is returned when the peer's certificate does not match a=fingerprint.
	ErrFingerprint = errors.New("handshake: peer certificate does not match the fingerprint")
	// ErrNoSRTPProfile is returned when DTLS did not negotiate an SRTP profile.
	ErrNoSRTPProfile = errors.New("handshake: no SRTP protection profile negotiated")
)

// Certificate is the process-wide DTLS identity.
type Certificate struct {
	TLS         tls.Certificate
	Fingerprint string // sha-256, uppercase hex pairs joined by ':'
}

// NewCertificate generates a self-signed ECDSA P-256 certificate.
func NewCertificate() (Certificate, error) {
	c, err := selfsign.GenerateSelfSigned()
	if err != nil {
		return Certificate{}, fmt.Errorf("handshake: certificate: %w", err)
	}
	return Certificate{TLS: c, Fingerprint: fingerprint(c.Certificate[0])}, nil
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, v := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", v)
	}
	return b.String()
}

// Params configure one handshake.
type Params struct {
	Certificate Certificate
	// Client is true when the answer said a=setup:passive: we then start it.
	Client bool
	// RemoteFingerprint is the sha-256 value of the answer's a=fingerprint.
	RemoteFingerprint string
	Logger            logging.LoggerFactory
}

// Result is an established DTLS association and its SRTP keys.
type Result struct {
	Conn    *dtls.Conn
	Profile srtp.ProtectionProfile
	// Keys: Local* encrypt what we send, Remote* decrypt what we receive.
	Keys srtp.SessionKeys
}

// Profiles in our order of preference: the server's order wins (dtls
// findMatchingSRTPProfile), and AES-GCM is several times cheaper per packet.
var profiles = []dtls.SRTPProtectionProfile{
	dtls.SRTP_AEAD_AES_128_GCM,
	dtls.SRTP_AEAD_AES_256_GCM,
	dtls.SRTP_AES128_CM_HMAC_SHA1_80,
}

func srtpProfile(p dtls.SRTPProtectionProfile) (srtp.ProtectionProfile, bool) {
	switch p {
	case dtls.SRTP_AEAD_AES_128_GCM:
		return srtp.ProtectionProfileAeadAes128Gcm, true
	case dtls.SRTP_AEAD_AES_256_GCM:
		return srtp.ProtectionProfileAeadAes256Gcm, true
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		return srtp.ProtectionProfileAes128CmHmacSha1_80, true
	}
	return 0, false
}

// Run performs the handshake on conn and derives the SRTP keys (RFC 5764
// §4.2). It blocks until done or ctx ends; on error the caller closes conn.
func Run(ctx context.Context, conn *Conn, p Params) (*Result, error) {
	verify := func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		if len(rawCerts) == 0 {
			return ErrFingerprint
		}
		if !strings.EqualFold(fingerprint(rawCerts[0]), p.RemoteFingerprint) {
			return ErrFingerprint
		}
		return nil
	}
	logger := p.Logger
	if logger == nil {
		logger = logging.NewDefaultLoggerFactory()
	}
	common := []dtls.Option{
		dtls.WithCertificates(p.Certificate.TLS),
		dtls.WithSRTPProtectionProfiles(profiles...),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithInsecureSkipVerify(true),
		dtls.WithVerifyPeerCertificate(verify),
		dtls.WithLoggerFactory(logger),
	}
	var (
		dc  *dtls.Conn
		err error
	)
	raddr := conn.remoteAddr()
	if p.Client {
		opts := make([]dtls.ClientOption, 0, len(common))
		for _, o := range common {
			opts = append(opts, o)
		}
		dc, err = dtls.ClientWithOptions(conn, raddr, opts...)
	} else {
		opts := make([]dtls.ServerOption, 0, len(common)+2)
		for _, o := range common {
			opts = append(opts, o)
		}
		// ICE already proved the address: skip the cookie round trip.
		opts = append(opts, dtls.WithClientAuth(dtls.RequireAnyClientCert), dtls.WithInsecureSkipVerifyHello(true))
		dc, err = dtls.ServerWithOptions(conn, raddr, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if err := dc.HandshakeContext(ctx); err != nil {
		_ = dc.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	sel, ok := dc.SelectedSRTPProtectionProfile()
	if !ok {
		_ = dc.Close()
		return nil, ErrNoSRTPProfile
	}
	prof, ok := srtpProfile(sel)
	if !ok {
		_ = dc.Close()
		return nil, fmt.Errorf("%w: %v", ErrNoSRTPProfile, sel)
	}
	state, ok := dc.ConnectionState()
	if !ok {
		_ = dc.Close()
		return nil, errors.New("handshake: no connection state")
	}
	cfg := srtp.Config{Profile: prof}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, p.Client); err != nil {
		_ = dc.Close()
		return nil, fmt.Errorf("handshake: srtp keys: %w", err)
	}
	return &Result{Conn: dc, Profile: prof, Keys: cfg.Keys}, nil
}

var _ net.PacketConn = (*Conn)(nil)
