package mosaictest

import (
	"log/slog"
	"os"
	"testing"
)

// testLogger logs to the test's output when MOSAIC_TEST_LOG is set, and
// discards otherwise, so passing tests stay quiet.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("MOSAIC_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(b))
	return len(b), nil
}
