package api

import (
	"time"

	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/dataplane"
)

// statsReport is GetStatsReport's answer: the keys of the seed document and
// of spec/api.md §3 that this server counts, in key order. The webhook and
// TURN counters are 0 because Hayate sends no webhook and runs no TURN
// server yet: nothing to count. Left out until they can be counted:
// total_connection_updated, the SCTP counters, total_sent_srtp_sfu_delay_us,
// error, erlang_vm; and cluster (no cluster).
type statsReport struct {
	AverageDurationSec                uint64           `json:"average_duration_sec"`
	AverageSetupTimeMsec              uint64           `json:"average_setup_time_msec"`
	SoraClient                        soraClientReport `json:"sora_client"`
	TotalAuthWebhookAllowed           uint64           `json:"total_auth_webhook_allowed"`
	TotalAuthWebhookDenied            uint64           `json:"total_auth_webhook_denied"`
	TotalConnectionCreated            uint64           `json:"total_connection_created"`
	TotalConnectionDestroyed          uint64           `json:"total_connection_destroyed"`
	TotalDecryptedSRTP                uint64           `json:"total_decrypted_srtp"`
	TotalDecryptedSRTPByteSize        uint64           `json:"total_decrypted_srtp_byte_size"`
	TotalDurationSec                  uint64           `json:"total_duration_sec"`
	TotalFailedAuthWebhook            uint64           `json:"total_failed_auth_webhook"`
	TotalFailedConnections            uint64           `json:"total_failed_connections"`
	TotalFailedEventWebhook           uint64           `json:"total_failed_event_webhook"`
	TotalFailedSessionWebhook         uint64           `json:"total_failed_session_webhook"`
	TotalFailedStatsWebhook           uint64           `json:"total_failed_stats_webhook"`
	TotalIgnoredEventWebhook          uint64           `json:"total_ignored_event_webhook"`
	TotalIgnoredSessionWebhook        uint64           `json:"total_ignored_session_webhook"`
	TotalIgnoredStatsWebhook          uint64           `json:"total_ignored_stats_webhook"`
	TotalOngoingConnections           uint64           `json:"total_ongoing_connections"`
	TotalReceivedInvalidTURNTCPPacket uint64           `json:"total_received_invalid_turn_tcp_packet"`
	TotalReceivedSRTP                 uint64           `json:"total_received_srtp"`
	TotalReceivedSRTPByteSize         uint64           `json:"total_received_srtp_byte_size"`
	TotalSentSRTP                     uint64           `json:"total_sent_srtp"`
	TotalSentSRTPByteSize             uint64           `json:"total_sent_srtp_byte_size"`
	TotalSessionCreated               uint64           `json:"total_session_created"`
	TotalSessionDestroyed             uint64           `json:"total_session_destroyed"`
	TotalSuccessfulAuthWebhook        uint64           `json:"total_successful_auth_webhook"`
	TotalSuccessfulConnections        uint64           `json:"total_successful_connections"`
	TotalSuccessfulEventWebhook       uint64           `json:"total_successful_event_webhook"`
	TotalSuccessfulSessionWebhook     uint64           `json:"total_successful_session_webhook"`
	TotalSuccessfulStatsWebhook       uint64           `json:"total_successful_stats_webhook"`
	TotalTURNTCPConnections           uint64           `json:"total_turn_tcp_connections"`
	TotalTURNUDPConnections           uint64           `json:"total_turn_udp_connections"`
	Version                           string           `json:"version"`
}

// soraClientReport counts connections by client type (room.SoraClientType).
type soraClientReport struct {
	TotalFailedSoraClientType     map[string]uint64 `json:"total_failed_sora_client_type"`
	TotalSuccessfulSoraClientType map[string]uint64 `json:"total_successful_sora_client_type"`
}

func (a *API) getStatsReport(*noRequest) (any, *Error) {
	st := a.cfg.Rooms.Stats()
	r := statsReport{
		TotalConnectionCreated:     st.ConnectionsCreated,
		TotalConnectionDestroyed:   st.ConnectionsDestroyed,
		TotalSuccessfulConnections: st.ConnectionsCreated,
		TotalOngoingConnections:    st.ConnectionsOngoing,
		TotalFailedConnections:     st.ConnectionsFailed,
		TotalSessionCreated:        st.SessionsCreated,
		TotalSessionDestroyed:      st.SessionsDestroyed,
		TotalDurationSec:           uint64(st.Duration / time.Second),
		// PacketsIn counts SRTP and SRTCP that passed authentication, which
		// is what the server decrypts.
		TotalReceivedSRTP:          st.Transport.PacketsIn,
		TotalReceivedSRTPByteSize:  st.Transport.BytesIn,
		TotalDecryptedSRTP:         st.Transport.PacketsIn,
		TotalDecryptedSRTPByteSize: st.Transport.BytesIn,
		TotalSentSRTP:              st.Transport.PacketsOut,
		TotalSentSRTPByteSize:      st.Transport.BytesOut,
		Version:                    a.cfg.Version,
		SoraClient: soraClientReport{
			TotalFailedSoraClientType:     map[string]uint64{},
			TotalSuccessfulSoraClientType: map[string]uint64{},
		},
	}
	if n := st.ConnectionsCreated; n > 0 {
		r.AverageDurationSec = uint64(st.Duration / time.Duration(n) / time.Second)
		r.AverageSetupTimeMsec = uint64(st.Setup / time.Duration(n) / time.Millisecond)
	}
	for _, t := range room.SoraClientTypes {
		c := st.Clients[t]
		r.SoraClient.TotalFailedSoraClientType[t] = c.Failed
		r.SoraClient.TotalSuccessfulSoraClientType[t] = c.Successful
	}
	return r, nil
}

// connectionStatsJSON is one connection's counters (GetStatsConnection,
// GetStatsAllConnections, GetStatsClient): a flat object, as the tools that
// read it (sorastats) expect.
type connectionStatsJSON struct {
	BundleID     string `json:"bundle_id"`
	ChannelID    string `json:"channel_id"`
	ClientID     string `json:"client_id"`
	ConnectionID string `json:"connection_id"`
	CreatedTime  int64  `json:"created_time"`
	Role         string `json:"role"`
	SessionID    string `json:"session_id"`
	// SRTP and SRTCP packets received (authenticated) and sent.
	TotalReceivedNACK         uint64 `json:"total_received_nack"`
	TotalReceivedPLI          uint64 `json:"total_received_pli"`
	TotalReceivedSRTP         uint64 `json:"total_received_srtp"`
	TotalReceivedSRTPByteSize uint64 `json:"total_received_srtp_byte_size"`
	TotalRetransmittedSRTP    uint64 `json:"total_retransmitted_srtp"`
	TotalSentSRTP             uint64 `json:"total_sent_srtp"`
	TotalSentSRTPByteSize     uint64 `json:"total_sent_srtp_byte_size"`
}

func connectionStats(info room.ConnectionInfo, s dataplane.TransportStats) connectionStatsJSON {
	return connectionStatsJSON{
		BundleID: info.BundleID, ChannelID: info.ChannelID, ClientID: info.ClientID, ConnectionID: info.ConnectionID,
		CreatedTime: info.JoinedAt.Unix(), Role: string(info.Role), SessionID: info.SessionID,
		TotalReceivedNACK: s.NACKsIn, TotalReceivedPLI: s.PLIsIn,
		TotalReceivedSRTP: s.PacketsIn, TotalReceivedSRTPByteSize: s.BytesIn,
		TotalRetransmittedSRTP: s.Retransmits,
		TotalSentSRTP:          s.PacketsOut, TotalSentSRTPByteSize: s.BytesOut,
	}
}

// statsOf reads the counters of each connection still there.
func (a *API) statsOf(infos []room.ConnectionInfo) []connectionStatsJSON {
	out := make([]connectionStatsJSON, 0, len(infos))
	for _, info := range infos {
		if c, ok := a.cfg.Rooms.Connection(info.ConnectionID); ok {
			out = append(out, connectionStats(info, c.TransportStats()))
		}
	}
	return out
}

func (a *API) getStatsAllConnections(*noRequest) (any, *Error) {
	return a.statsOf(a.cfg.Rooms.Connections("")), nil
}

func (a *API) getStatsConnection(req *connectionRequest) (any, *Error) {
	c, e := a.connection(req.ChannelID, req.ConnectionID)
	if e != nil {
		return nil, e
	}
	return connectionStats(c.Info(), c.TransportStats()), nil
}

func (a *API) getStatsClient(req *clientRequest) (any, *Error) {
	infos, e := a.clientConnections(req.ChannelID, req.ClientID)
	if e != nil {
		return nil, e
	}
	return a.statsOf(infos), nil
}
