package signaling

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/ctrl/webhook"
)

// checkToken applies the built-in token auth to a connect (nil: admitted).
func (s *Server) checkToken(req *room.JoinRequest) *closeError {
	if s.cfg.AuthSecret == "" {
		return nil
	}
	var md struct {
		AccessToken string `json:"access_token"`
	}
	if len(req.Metadata) > 0 {
		_ = json.Unmarshal(req.Metadata, &md)
	}
	if _, err := webhook.VerifyAccessToken(s.cfg.AuthSecret, md.AccessToken, req.ChannelID, s.cfg.AuthAllowRawSecret, time.Now()); err != nil {
		s.metrics.authFailures.Inc()
		return closeErr(CloseAuthFailed, "AUTH-FAILED", strings.TrimPrefix(err.Error(), webhook.ErrBadToken.Error()+": "))
	}
	return nil
}
