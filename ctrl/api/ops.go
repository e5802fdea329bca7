package api

import (
	"slices"
	"strings"
)

// operation is one entry of the dispatch table: a handler, or the reason it
// is not implemented yet.
type operation struct {
	target  string
	run     func(a *API, b body) (any, *Error)
	missing string // why it is not implemented; "" when it is
}

// op makes an operation whose handler takes a typed request R, decoded from
// the body before the handler runs.
func op[R any, PR interface {
	*R
	decoder
}](target string, h func(a *API, req *R) (any, *Error)) operation {
	return operation{target: target, run: func(a *API, b body) (any, *Error) {
		var req R
		if e := PR(&req).decode(b); e != nil {
			return nil, e
		}
		return h(a, &req)
	}}
}

func todo(target, why string) operation { return operation{target: target, missing: why} }

// Why operations are not implemented yet (the package doc has the table).
const (
	needCluster          = "clustering is not built yet"
	needForwardingFilter = "forwarding filters are not built yet"
	needSessions         = "session operations are not built yet"
	needRecording        = "recording is not built in Hayate"
	needRTCStats         = "the server does not collect the clients' RTC stats yet"
	needLicenseUpdate    = "Hayate has no license: its limits are configuration"
)

var operationList = []operation{
	// Channels and connections (spec/api.md §2.1).
	op("Sora_20201013.ListChannels", (*API).listChannels),
	op("Sora_20201013.ListConnections", (*API).listConnections),
	op("Sora_20201013.ListChannelConnections", (*API).listChannelConnections),
	op("Sora_20151104.DisconnectChannel", (*API).disconnectChannel),
	op("Sora_20151104.DisconnectClient", (*API).disconnectClient),
	op("Sora_20151104.DisconnectConnection", (*API).disconnectConnection),
	op("Sora_20201120.DisconnectChannelByRole", (*API).disconnectChannelByRole),
	op("Sora_20241218.RequestKeyFrame", (*API).requestKeyFrame),
	// Push (§2.2).
	op("Sora_20160711.PushChannel", (*API).pushChannel),
	op("Sora_20160711.PushClient", (*API).pushClient),
	op("Sora_20160711.PushConnection", (*API).pushConnection),
	op("Sora_20201120.PushChannelByRole", (*API).pushChannelByRole),
	// Mode (§2.9).
	op("Sora_20211215.ChangeMode", (*API).changeMode),
	op("Sora_20211215.GetMode", (*API).getMode),
	// Signaling notify metadata ext (§2.8).
	op("Sora_20201124.ListSignalingNotifyMetadata", (*API).listMetadata),
	op("Sora_20201124.GetSignalingNotifyMetadata", (*API).getMetadata),
	op("Sora_20201124.PutSignalingNotifyMetadata", (*API).putMetadata),
	op("Sora_20201124.DeleteSignalingNotifyMetadata", (*API).deleteMetadata),
	op("Sora_20201124.PutSignalingNotifyMetadataItem", (*API).putMetadataItem),
	op("Sora_20201124.DeleteSignalingNotifyMetadataItem", (*API).deleteMetadataItem),
	// Stats (§2.3, §3).
	op("Sora_20171010.GetStatsReport", (*API).getStatsReport),
	op("Sora_20171101.GetStatsAllConnections", (*API).getStatsAllConnections),
	op("Sora_20170529.GetStatsConnection", (*API).getStatsConnection),
	op("Sora_20170529.GetStatsClient", (*API).getStatsClient),
	// License and verification (§2.11, seed).
	op("Sora_20171218.GetLicense", (*API).getLicense),
	op("Sora_20221221.GenerateCrashLog", (*API).generateCrashLog),
	// Media operations (seed document; media_ops.go).
	op("Sora_20200401.PauseRtpStream", (*API).pauseRtpStream),
	op("Sora_20200401.ResumeRtpStream", (*API).resumeRtpStream),
	op("Sora_20200401.ListPauseRtpStreams", (*API).listPauseRtpStreams),
	op("Sora_20190327.ChangeUpstreamVideoBitRate", (*API).changeUpstreamVideoBitRate),
	op("Sora_20170814.StartForwardingRtp", (*API).startForwardingRtp),
	op("Sora_20170814.StopForwardingRtp", (*API).stopForwardingRtp),

	// Not implemented yet: each answers 501 NOT-IMPLEMENTED naming why.
	todo("Sora_20221221.InitCluster", needCluster),
	todo("Sora_20211215.JoinCluster", needCluster),
	todo("Sora_20211215.RegisterClusterNode", needCluster),
	todo("Sora_20211215.ListClusterNodes", needCluster),
	todo("Sora_20211215.ListClusterChannels", needCluster),
	todo("Sora_20220629.PurgeClusterNode", needCluster),
	// User-agent stats (seed document; uastats.go).
	op("Sora_20211215.ListUserAgentStats", (*API).listUserAgentStats),
	op("Sora_20211215.ListChannelUserAgentStats", (*API).listChannelUserAgentStats),
	op("Sora_20211215.GetUserAgentStats", (*API).getUserAgentStats),
	// Audio streaming (seed document, spec/api.md §2.6; audiostream.go).
	op("Sora_20221221.StartAudioStreaming", (*API).startAudioStreaming),
	op("Sora_20221221.StopAudioStreaming", (*API).stopAudioStreaming),
	op("Sora_20221221.SubscribeAudioStreamingResultPush", (*API).subscribeAudioStreamingResultPush),
	op("Sora_20221221.UnsubscribeAudioStreamingResultPush", (*API).unsubscribeAudioStreamingResultPush),
	op("Sora_20230628.ListAudioStreamingResultPushState", (*API).listAudioStreamingResultPushState),
	// Spotlight and simulcast layers (§2.4, simulcast.go).
	op("Sora_20200807.FocusSpotlight", (*API).focusSpotlight),
	op("Sora_20200807.FocusSpotlightFixed", (*API).focusSpotlightFixed),
	op("Sora_20200807.UnfocusSpotlight", (*API).unfocusSpotlight),
	op("Sora_20200807.ChangeSpotlightNumber", (*API).changeSpotlightNumber),
	op("Sora_20211215.RequestSpotlightRid", (*API).requestSpotlightRid),
	op("Sora_20211215.ResetSpotlightRid", (*API).resetSpotlightRid),
	op("Sora_20211215.BatchRequestSpotlightRid", (*API).batchRequestSpotlightRid),
	op("Sora_20251217.RequestSimulcastRid", (*API).requestSimulcastRid),
	op("Sora_20201005.RequestRtpStream", (*API).requestRtpStream),
	op("Sora_20201005.ResetRtpStream", (*API).resetRtpStream),
	todo("Sora_20230628.ListForwardingFilters", needForwardingFilter),
	todo("Sora_20230628.CreateChannelForwardingFilter", needForwardingFilter),
	todo("Sora_20230628.UpdateChannelForwardingFilter", needForwardingFilter),
	todo("Sora_20230628.DeleteChannelForwardingFilter", needForwardingFilter),
	todo("Sora_20230628.CreateConnectionForwardingFilter", needForwardingFilter),
	todo("Sora_20230628.UpdateConnectionForwardingFilter", needForwardingFilter),
	todo("Sora_20230628.DeleteConnectionForwardingFilter", needForwardingFilter),
	todo("Sora_20230628.TerminateSession", needSessions),
	todo("Sora_20231220.GetSession", needSessions),
	todo("Sora_20231220.ListSessions", needSessions),
	todo("Sora_20231220.StartRecording", needRecording),
	todo("Sora_20231220.StopRecording", needRecording),
	todo("Sora_20211215.ListRtcStats", needRTCStats),
	todo("Sora_20211215.ListChannelRtcStats", needRTCStats),
	todo("Sora_20211215.GetRtcStats", needRTCStats),
	todo("Sora_20171218.UpdateLicense", needLicenseUpdate),
}

// operations is the dispatch table: x-sora-target → operation.
var operations = func() map[string]operation {
	m := make(map[string]operation, len(operationList))
	for _, o := range operationList {
		if _, dup := m[o.target]; dup {
			panic("api: duplicate target " + o.target)
		}
		m[o.target] = o
	}
	return m
}()

// Target describes one x-sora-target of the dispatch table.
type Target struct {
	// Name is the full target, "Sora_YYYYMMDD.Operation".
	Name string
	// Implemented is false for targets that answer 501 NOT-IMPLEMENTED;
	// Missing then says why.
	Implemented bool
	Missing     string
}

// Operation is the part of Name after the date: "ListChannels".
func (t Target) Operation() string {
	_, op, _ := strings.Cut(t.Name, ".")
	return op
}

// Targets lists every target the server knows, sorted by operation name.
func Targets() []Target {
	out := make([]Target, 0, len(operationList))
	for _, o := range operationList {
		out = append(out, Target{Name: o.target, Implemented: o.missing == "", Missing: o.missing})
	}
	slices.SortFunc(out, func(a, b Target) int {
		if c := strings.Compare(a.Operation(), b.Operation()); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}
