package api

import (
	"time"

	"github.com/hayate-sfu/hayate/ctrl/audiostream"
	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/dataplane"
)

// GetStatsReport's answer is one JSON object whose keys are those of the
// seed document and of spec/api.md §3 that this server counts (sorted, as
// every map is encoded). The API computes the room's counters and the
// audio streaming counters itself (computedReportKeys); Config.ExtraCounters
// supplies the others (webhooks, TURN, SCTP), the webhook and TURN ones
// being 0 without it. Left out until they can be counted:
// total_connection_updated, total_sent_srtp_sfu_delay_us, error,
// erlang_vm (the SCTP counters come through ExtraCounters). The cluster block comes from Config.ClusterStatus, and only
// on a node that is in a cluster.

// zeroReportKeys are reported as 0 when Config.ExtraCounters does not
// supply them: sora_exporter reads them.
var zeroReportKeys = []string{
	"total_auth_webhook_allowed", "total_auth_webhook_denied",
	"total_successful_auth_webhook", "total_failed_auth_webhook",
	"total_successful_session_webhook", "total_failed_session_webhook", "total_ignored_session_webhook",
	"total_successful_event_webhook", "total_failed_event_webhook", "total_ignored_event_webhook",
	"total_successful_stats_webhook", "total_failed_stats_webhook", "total_ignored_stats_webhook",
	"total_turn_udp_connections", "total_turn_tcp_connections", "total_received_invalid_turn_tcp_packet",
}

// computedReportKeys are the keys GetStatsReport computes; ExtraCounters
// cannot replace them.
var computedReportKeys = map[string]bool{
	"average_duration_sec": true, "average_setup_time_msec": true, "sora_client": true, "version": true,
	"total_connection_created": true, "total_connection_destroyed": true, "total_successful_connections": true,
	"total_ongoing_connections": true, "total_failed_connections": true, "total_session_created": true,
	"total_session_destroyed": true, "total_duration_sec": true,
	"total_received_srtp": true, "total_received_srtp_byte_size": true, "total_decrypted_srtp": true,
	"total_decrypted_srtp_byte_size": true, "total_sent_srtp": true, "total_sent_srtp_byte_size": true,
	"total_started_audio_streaming": true, "total_successful_audio_streaming": true, "total_failed_audio_streaming": true,
	"total_sent_audio_streaming_packet": true, "total_sent_audio_streaming_byte_size": true,
	"total_dropped_audio_streaming_packet": true, "total_received_audio_streaming_result": true,
	"total_invalid_audio_streaming_result": true,
}

// soraClientReport counts connections by client type (room.SoraClientType).
type soraClientReport struct {
	TotalFailedSoraClientType     map[string]uint64 `json:"total_failed_sora_client_type"`
	TotalSuccessfulSoraClientType map[string]uint64 `json:"total_successful_sora_client_type"`
}

func (a *API) getStatsReport(*noRequest) (any, *Error) {
	st := a.cfg.Rooms.Stats()
	r := map[string]any{
		"total_connection_created":     st.ConnectionsCreated,
		"total_connection_destroyed":   st.ConnectionsDestroyed,
		"total_successful_connections": st.ConnectionsCreated,
		"total_ongoing_connections":    st.ConnectionsOngoing,
		"total_failed_connections":     st.ConnectionsFailed,
		"total_session_created":        st.SessionsCreated,
		"total_session_destroyed":      st.SessionsDestroyed,
		"total_duration_sec":           uint64(st.Duration / time.Second),
		// PacketsIn counts SRTP and SRTCP that passed authentication, which
		// is what the server decrypts.
		"total_received_srtp":            st.Transport.PacketsIn,
		"total_received_srtp_byte_size":  st.Transport.BytesIn,
		"total_decrypted_srtp":           st.Transport.PacketsIn,
		"total_decrypted_srtp_byte_size": st.Transport.BytesIn,
		"total_sent_srtp":                st.Transport.PacketsOut,
		"total_sent_srtp_byte_size":      st.Transport.BytesOut,
		"version":                        a.cfg.Version,
		"average_duration_sec":           uint64(0),
		"average_setup_time_msec":        uint64(0),
	}
	if n := st.ConnectionsCreated; n > 0 {
		r["average_duration_sec"] = uint64(st.Duration / time.Duration(n) / time.Second)
		r["average_setup_time_msec"] = uint64(st.Setup / time.Duration(n) / time.Millisecond)
	}
	sc := soraClientReport{
		TotalFailedSoraClientType:     map[string]uint64{},
		TotalSuccessfulSoraClientType: map[string]uint64{},
	}
	for _, t := range room.SoraClientTypes {
		c := st.Clients[t]
		sc.TotalFailedSoraClientType[t] = c.Failed
		sc.TotalSuccessfulSoraClientType[t] = c.Successful
	}
	r["sora_client"] = sc
	var as audiostream.Counters
	if a.cfg.AudioStreams != nil {
		as = a.cfg.AudioStreams.Counters()
	}
	r["total_started_audio_streaming"] = as.Started
	r["total_successful_audio_streaming"] = as.Successful
	r["total_failed_audio_streaming"] = as.Failed
	r["total_sent_audio_streaming_packet"] = as.PacketsSent
	r["total_sent_audio_streaming_byte_size"] = as.BytesSent
	r["total_dropped_audio_streaming_packet"] = as.PacketsDropped
	r["total_received_audio_streaming_result"] = as.Results
	r["total_invalid_audio_streaming_result"] = as.InvalidResults
	for _, k := range zeroReportKeys {
		r[k] = uint64(0)
	}
	if a.cfg.ExtraCounters != nil {
		for k, v := range a.cfg.ExtraCounters() {
			if !computedReportKeys[k] && k != "" {
				r[k] = v
			}
		}
	}
	if a.cfg.ClusterStatus != nil {
		if st, ok := a.cfg.ClusterStatus(); ok {
			r["cluster"] = st
		}
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
