package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrBadToken is returned by VerifyAccessToken; the message says what is wrong.
var ErrBadToken = errors.New("webhook: bad access token")

// VerifyAccessToken checks metadata.access_token for the built-in token auth:
// an HS256 JWT signed with secret whose channel_id claim equals channelID
// and whose exp (if present) has not passed — or, when allowRaw, the secret
// itself. It returns the JWT's claims (nil for the raw secret).
func VerifyAccessToken(secret, token, channelID string, allowRaw bool, now time.Time) (map[string]any, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: metadata.access_token is missing", ErrBadToken)
	}
	if allowRaw && hmac.Equal([]byte(token), []byte(secret)) {
		return nil, nil
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not a JWT", ErrBadToken)
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := decodeSegment(parts[0], &header); err != nil || header.Alg != "HS256" {
		return nil, fmt.Errorf("%w: header must say alg HS256", ErrBadToken)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, fmt.Errorf("%w: signature does not match", ErrBadToken)
	}
	var claims map[string]any
	if err := decodeSegment(parts[1], &claims); err != nil {
		return nil, fmt.Errorf("%w: claims are not a JSON object", ErrBadToken)
	}
	if cid, _ := claims["channel_id"].(string); cid != channelID {
		return nil, fmt.Errorf("%w: channel_id claim %q does not match %q", ErrBadToken, cid, channelID)
	}
	if exp, ok := claims["exp"]; ok {
		e, isNum := exp.(float64)
		if !isNum || now.Unix() >= int64(e) {
			return nil, fmt.Errorf("%w: expired", ErrBadToken)
		}
	}
	return claims, nil
}

func decodeSegment(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
