package obs

import (
	"io"
	"log/slog"
)

// NewLogger returns a logger writing to w. level is "debug", "info", "warn"
// or "error" (anything else means info); format is "json" for one JSON object
// per line, anything else means slog's text format (key=value).
func NewLogger(level, format string, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: ParseLevel(level)}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// ParseLevel maps a log_level value to its slog level; an unknown value
// means info (ctrl/config refuses unknown values before they get here).
func ParseLevel(level string) slog.Level {
	switch level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
