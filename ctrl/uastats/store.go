package uastats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// Errors of Record.
var (
	// ErrTooLarge: the report exceeds Config.MaxReportBytes.
	ErrTooLarge = errors.New("uastats: report too large")
	// ErrNotArray: the report is not a well-formed JSON array in UTF-8.
	ErrNotArray = errors.New("uastats: report is not a JSON array")
	// ErrNoConnection: ConnInfo.ConnectionID is empty.
	ErrNoConnection = errors.New("uastats: no connection id")
	// ErrConfig: an unusable Config.
	ErrConfig = errors.New("uastats: bad config")
)

// DefaultMaxReportBytes bounds a report when Config.MaxReportBytes is 0.
// Chrome's report for a connection grows by 2-3 kB per track received; 512
// KiB holds a multistream room of well over a hundred tracks.
const DefaultMaxReportBytes = 512 << 10

// Config configures a Store. The zero value is usable.
type Config struct {
	// MaxReportBytes bounds one report (the JSON array as received); a
	// larger one is dropped and counted. 0 means DefaultMaxReportBytes.
	MaxReportBytes int
	// Registerer receives hayate_user_agent_stats_reports_total{result} and
	// hayate_user_agent_stats_connections; nil registers nothing.
	Registerer prometheus.Registerer
}

// ConnInfo names the connection a report is about.
type ConnInfo struct {
	ChannelID    string
	SessionID    string
	ClientID     string
	ConnectionID string // required
}

// Report is the last stats report of one connection.
type Report struct {
	ConnInfo
	// Stats is the compact JSON array the client sent, in a slice of its
	// own: every Get and List makes a new one.
	Stats json.RawMessage
	// At is when it arrived (the at given to Record).
	At time.Time
}

// Counters are a Store's totals since New.
type Counters struct {
	Recorded uint64 // reports kept
	TooLarge uint64 // dropped: over MaxReportBytes
	Invalid  uint64 // dropped: not a JSON array (or no connection id)
}

// Store holds the last report of each connection; see the package doc.
type Store struct {
	max    int
	packer packer

	mu      sync.Mutex
	reports map[string]*entry // by connection id; an *entry is never modified once stored
	kept    int               // the bytes of the entries' encoded reports

	recorded, tooLarge, invalid atomic.Uint64
	metric                      *prometheus.CounterVec
	conns, keptGauge            prometheus.GaugeFunc
}

// entry is what the Store keeps of one report.
type entry struct {
	ConnInfo
	at   time.Time
	z    []byte // the compact report, an LZ4 block (pack.go)
	size int    // the compact report's length
}

func (e *entry) report() Report {
	return Report{ConnInfo: e.ConnInfo, Stats: unpack(e.z, e.size), At: e.at}
}

// New makes an empty Store.
func New(cfg Config) (*Store, error) {
	if cfg.MaxReportBytes < 0 {
		return nil, fmt.Errorf("%w: MaxReportBytes %d is negative", ErrConfig, cfg.MaxReportBytes)
	}
	if cfg.MaxReportBytes == 0 {
		cfg.MaxReportBytes = DefaultMaxReportBytes
	}
	s := &Store{max: cfg.MaxReportBytes, reports: map[string]*entry{}}
	s.metric = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hayate_user_agent_stats_reports_total",
		Help: "Client RTC stats reports (pong.stats, DataChannel stats) by result: recorded, too_large or invalid (the last two dropped).",
	}, []string{"result"})
	s.conns = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hayate_user_agent_stats_connections",
		Help: "Connections whose last stats report the server keeps.",
	}, func() float64 { return float64(s.Len()) })
	s.keptGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hayate_user_agent_stats_bytes",
		Help: "Bytes the kept stats reports take, compressed.",
	}, func() float64 { return float64(s.KeptBytes()) })
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{s.metric, s.conns, s.keptGauge} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrConfig, err)
			}
		}
	}
	return s, nil
}

// Record keeps report as the connection's last stats report, received at
// at. It fails with ErrNoConnection, ErrTooLarge or ErrNotArray (then
// nothing changes); the error names the connection and the problem.
func (s *Store) Record(info ConnInfo, report json.RawMessage, at time.Time) error {
	if info.ConnectionID == "" {
		s.count(&s.invalid, "invalid")
		return ErrNoConnection
	}
	if len(report) > s.max {
		s.count(&s.tooLarge, "too_large")
		return fmt.Errorf("%w: %d bytes from %s (at most %d)", ErrTooLarge, len(report), info.ConnectionID, s.max)
	}
	if !isArray(report) {
		s.count(&s.invalid, "invalid")
		return fmt.Errorf("%w: from %s (it starts with %q)", ErrNotArray, info.ConnectionID, head(report))
	}
	if !utf8.Valid(report) {
		s.count(&s.invalid, "invalid")
		return fmt.Errorf("%w: from %s: not valid UTF-8", ErrNotArray, info.ConnectionID)
	}
	space, err := scanJSON(report)
	if err != nil {
		s.count(&s.invalid, "invalid")
		return fmt.Errorf("%w: from %s: %v", ErrNotArray, info.ConnectionID, err)
	}
	z, size := s.packer.pack(report, space)
	e := &entry{ConnInfo: info, at: at, z: z, size: size}
	s.mu.Lock()
	if old := s.reports[info.ConnectionID]; old != nil {
		s.kept -= len(old.z)
	}
	s.reports[info.ConnectionID] = e
	s.kept += len(z)
	s.mu.Unlock()
	s.count(&s.recorded, "recorded")
	return nil
}

func (s *Store) count(c *atomic.Uint64, result string) {
	c.Add(1)
	s.metric.WithLabelValues(result).Inc()
}

// isArray reports whether b, white space aside, starts with '[' and ends
// with ']' (scanJSON then checks the rest).
func isArray(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) >= 2 && b[0] == '[' && b[len(b)-1] == ']'
}

func head(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 16 {
		b = b[:16]
	}
	return string(b)
}

// Forget drops the connection's report (it left). Forgetting an unknown id
// does nothing.
func (s *Store) Forget(connectionID string) {
	s.mu.Lock()
	if e := s.reports[connectionID]; e != nil {
		s.kept -= len(e.z)
		delete(s.reports, connectionID)
	}
	s.mu.Unlock()
}

// Prune drops the report of every connection for which alive is false and
// returns how many it dropped: the safety net for a report recorded after
// its connection's Forget. alive is called without the Store's mutex.
func (s *Store) Prune(alive func(connectionID string) bool) int {
	s.mu.Lock()
	ids := make([]string, 0, len(s.reports))
	for id := range s.reports {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	n := 0
	for _, id := range ids {
		if !alive(id) {
			s.Forget(id)
			n++
		}
	}
	return n
}

// Get returns the connection's last report.
func (s *Store) Get(connectionID string) (Report, bool) {
	s.mu.Lock()
	e := s.reports[connectionID]
	s.mu.Unlock()
	if e == nil {
		return Report{}, false
	}
	return e.report(), true
}

// List returns the last report of every connection of a channel, or of
// every channel when channelID is empty, ordered by channel id and then by
// when the report arrived (connection id when equal).
func (s *Store) List(channelID string) []Report {
	s.mu.Lock()
	es := make([]*entry, 0, len(s.reports))
	for _, e := range s.reports {
		if channelID == "" || e.ChannelID == channelID {
			es = append(es, e)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(es, func(a, b *entry) int {
		if c := strings.Compare(a.ChannelID, b.ChannelID); c != 0 {
			return c
		}
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return strings.Compare(a.ConnectionID, b.ConnectionID)
	})
	out := make([]Report, len(es))
	for i, e := range es {
		out[i] = e.report() // outside the mutex: inflating takes a while
	}
	return out
}

// Len is the number of connections with a report.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reports)
}

// KeptBytes is the memory the kept reports take: the sum of their
// compressed sizes.
func (s *Store) KeptBytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kept
}

// Counters returns the totals since New.
func (s *Store) Counters() Counters {
	return Counters{Recorded: s.recorded.Load(), TooLarge: s.tooLarge.Load(), Invalid: s.invalid.Load()}
}
