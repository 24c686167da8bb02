package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSlackFlags: no token means the log notifier; a token needs a
// channel; secrets come from files and never appear in errors.
func TestSlackFlags(t *testing.T) {
	t.Setenv(envSlackToken, "")
	t.Setenv(envSlackSigningSecret, "")
	t.Setenv(envSlackAppToken, "")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	side, err := (&slackFlags{channel: "#x"}).build(nil, "", log)
	if err != nil {
		t.Fatal(err)
	}
	if side.notifier == nil || side.posting || side.interactions != nil {
		t.Errorf("without a token: notifier %v, posting %v, interactions %v; want the notifier that logs only", side.notifier != nil, side.posting, side.interactions != nil)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("xoxb-very-secret\n"), 0o600)
	_, err = (&slackFlags{tokenFile: tokenFile}).build(nil, "", log)
	if err == nil || !strings.Contains(err.Error(), "--slack-channel") || strings.Contains(err.Error(), "very-secret") {
		t.Errorf("token without channel: %v, want an error naming --slack-channel, without the token", err)
	}
	signFile := filepath.Join(dir, "signing")
	os.WriteFile(signFile, []byte("s3cr3t"), 0o600)
	side, err = (&slackFlags{tokenFile: tokenFile, signingSecretFile: signFile, channel: "#x"}).build(nil, "", log)
	if err != nil {
		t.Fatal(err)
	}
	if !side.posting || side.interactions == nil || !side.httpRoute || side.socket != nil {
		t.Errorf("token and signing secret: posting %v, interactions %v, http %v, socket %v", side.posting, side.interactions != nil, side.httpRoute, side.socket != nil)
	}
	t.Setenv(envSlackAppToken, "xapp-1")
	_, err = (&slackFlags{channel: "#x"}).build(nil, "", log)
	if err == nil || strings.Contains(err.Error(), "xapp-1") {
		t.Errorf("app token without bot token: %v, want an error without the token", err)
	}
}
