package monitoring

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// smtpSink is a minimal SMTP server on loopback that keeps every message it
// is given: enough of RFC 5321 for Go's net/smtp client (which Alertmanager
// uses), with STARTTLS (RFC 3207) and AUTH PLAIN (RFC 4954) offered only
// after TLS, as a real relay does.
type smtpSink struct {
	ln       net.Listener
	tls      *tls.Config
	user     string
	password string

	mu   sync.Mutex
	msgs []sunkMail
	errs []string
}

// sunkMail is one message as the sink received it, and how.
type sunkMail struct {
	tls, authed bool
	from        string
	to          []string
	msg         *mail.Message
	body        string
}

func startSMTPSink(t *testing.T, cert tls.Certificate, user, password string) *smtpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{ln: ln, tls: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, user: user, password: password}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return s
}

func (s *smtpSink) addr() string { return s.ln.Addr().String() }

func (s *smtpSink) fail(format string, args ...any) {
	s.mu.Lock()
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// messages returns what the sink has received so far.
func (s *smtpSink) messages() []sunkMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunkMail(nil), s.msgs...)
}

// serve speaks SMTP on one connection until QUIT or an error.
func (s *smtpSink) serve(conn net.Conn) {
	defer func() { conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(conn)
	var cur sunkMail
	reply := func(code int, lines ...string) bool {
		for i, l := range lines {
			sep := "-"
			if i == len(lines)-1 {
				sep = " "
			}
			if err := tp.PrintfLine("%d%s%s", code, sep, l); err != nil {
				return false
			}
		}
		return true
	}
	if !reply(220, "sink ESMTP") {
		return
	}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			ext := []string{"sink", "8BITMIME"}
			if cur.tls {
				ext = append(ext, "AUTH PLAIN")
			} else {
				ext = append(ext, "STARTTLS")
			}
			reply(250, ext...)
		case "STARTTLS":
			if cur.tls {
				reply(503, "already in TLS")
				continue
			}
			reply(220, "go ahead")
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				s.fail("STARTTLS handshake: %v", err)
				return
			}
			conn = tc
			tp = textproto.NewConn(tc)
			cur = sunkMail{tls: true}
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if !cur.tls || !strings.EqualFold(mech, "PLAIN") {
				reply(504, "PLAIN after STARTTLS only")
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 || parts[1] != s.user || parts[2] != s.password {
				s.fail("AUTH PLAIN with wrong credentials")
				reply(535, "authentication failed")
				continue
			}
			cur.authed = true
			reply(235, "authenticated")
		case "MAIL":
			if !cur.tls || !cur.authed {
				s.fail("MAIL before STARTTLS and AUTH (tls %v, auth %v)", cur.tls, cur.authed)
				reply(530, "STARTTLS and AUTH first")
				continue
			}
			cur.from, cur.to = strings.TrimPrefix(arg, "FROM:"), nil
			reply(250, "ok")
		case "RCPT":
			cur.to = append(cur.to, strings.TrimPrefix(arg, "TO:"))
			reply(250, "ok")
		case "DATA":
			reply(354, "end with <CRLF>.<CRLF>")
			raw, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			msg, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				s.fail("message does not parse: %v", err)
				reply(554, "bad message")
				continue
			}
			m := cur
			m.msg, m.body = msg, mailText(msg)
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			reply(250, "queued")
		case "RSET", "NOOP":
			reply(250, "ok")
		case "QUIT":
			reply(221, "bye")
			return
		default:
			reply(502, "not implemented")
		}
	}
}

// mailText returns a message's text: every part of a multipart body,
// quoted-printable decoded.
func mailText(msg *mail.Message) string {
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		b, _ := io.ReadAll(msg.Body)
		return string(b)
	}
	var out strings.Builder
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err != nil {
			return out.String()
		}
		b, _ := io.ReadAll(p) // NextPart decodes quoted-printable itself
		out.Write(b)
		out.WriteString("\n")
	}
}

// slackText returns the title and text of a Slack webhook payload.
func slackText(t *testing.T, payload string) string {
	t.Helper()
	var m struct {
		Attachments []struct {
			Title string `json:"title"`
			Text  string `json:"text"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal([]byte(payload), &m); err != nil || len(m.Attachments) != 1 {
		t.Fatalf("Slack payload %s: %v", payload, err)
	}
	return m.Attachments[0].Title + "\n" + m.Attachments[0].Text
}

// selfSigned makes a certificate for 127.0.0.1 that is its own CA, and
// returns it with its PEM.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtp sink"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// localAlertmanagerConfig rewrites alertmanager.yml for a run on loopback:
// secrets from dir, the SMTP relay is the sink (trusted through caFile),
// and short timings. Routing, receivers, templates and TLS/auth
// requirements stay as written.
func localAlertmanagerConfig(t *testing.T, dir, smarthost, caFile string) []byte {
	t.Helper()
	raw, err := os.ReadFile(alertmanagerFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	global := cfg["global"].(map[string]any)
	if global["smtp_require_tls"] != true {
		t.Fatalf("alertmanager.yml: smtp_require_tls = %v, want true (STARTTLS before any credential or alert crosses the network)", global["smtp_require_tls"])
	}
	for _, k := range []string{"smtp_auth_password_file", "slack_api_url_file"} {
		p, _ := global[k].(string)
		if !strings.HasPrefix(p, "/etc/alertmanager/secrets/") {
			t.Fatalf("alertmanager.yml: %s = %q, want a file under /etc/alertmanager/secrets/", k, p)
		}
		global[k] = filepath.Join(dir, filepath.Base(p))
	}
	global["smtp_smarthost"] = smarthost
	route := cfg["route"].(map[string]any)
	// Firing after 1s, and the resolved notice at the next group interval.
	route["group_wait"], route["group_interval"] = "1s", "2s"
	for _, r := range cfg["receivers"].([]any) {
		emails, _ := r.(map[string]any)["email_configs"].([]any)
		for _, e := range emails {
			e.(map[string]any)["tls_config"] = map[string]any{"ca_file": caFile}
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAlertmanagerDeliversAndRecovers runs the real Alertmanager with
// alertmanager.yml against a local SMTP relay (STARTTLS and AUTH, as the
// config requires) and a Slack fake: a critical alert reaches on-call by
// e-mail and Slack, and its resolution sends the recovery notice to both.
func TestAlertmanagerDeliversAndRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an Alertmanager; not in -short")
	}
	am := tool(t, "prometheus-alertmanager", "alertmanager")
	dir := t.TempDir()

	hookURL, slackMessages := slackHook(t)

	const smtpPassword = "sink-password"
	cert, caPEM := selfSigned(t)
	caFile := filepath.Join(dir, "sink-ca.pem")
	raw, err := os.ReadFile(alertmanagerFile)
	if err != nil {
		t.Fatal(err)
	}
	var plain struct {
		Global struct {
			User string `yaml:"smtp_auth_username"`
			From string `yaml:"smtp_from"`
		} `yaml:"global"`
	}
	if err := yaml.Unmarshal(raw, &plain); err != nil {
		t.Fatal(err)
	}
	sink := startSMTPSink(t, cert, plain.Global.User, smtpPassword)
	for name, value := range map[string][]byte{
		"slack-webhook-url": []byte(hookURL), "smtp-password": []byte(smtpPassword), "sink-ca.pem": caPEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), value, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	configPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(configPath, localAlertmanagerConfig(t, dir, sink.addr(), caFile), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	api := startAlertmanager(ctx, t, am, dir, configPath)

	const name = "HealthcareAPITargetDown"
	started := time.Now().UTC()
	post := func(endsAt time.Time) {
		t.Helper()
		alert := map[string]any{
			"labels": map[string]string{"alertname": name, "severity": "critical", "service": "healthcare-api", "namespace": "healthcare-api", "environment": "eks-prod"},
			"annotations": map[string]string{
				"summary": name + " summary", "description": name + " description", "runbook_url": runbookBase + strings.ToLower(name),
			},
			"startsAt": started.Format(time.RFC3339),
			"endsAt":   endsAt.Format(time.RFC3339),
		}
		postAlerts(t, api, alert)
	}
	subject := func(m sunkMail) string {
		s, err := new(mime.WordDecoder).DecodeHeader(m.msg.Header.Get("Subject"))
		if err != nil {
			return m.msg.Header.Get("Subject")
		}
		return s
	}
	waitFor := func(status string) (sunkMail, string) {
		t.Helper()
		wantSubject := "[" + status + "] " + name + " in eks-prod (healthcare-api)"
		var email sunkMail
		var msg string
		poll(ctx, t, status+" e-mail and Slack message", func() (bool, string) {
			for _, m := range sink.messages() {
				if subject(m) == wantSubject {
					email = m
				}
			}
			slack := slackMessages()
			for _, s := range slack {
				if text := slackText(t, s); strings.HasPrefix(text, "["+status+"] "+name) {
					msg = text
				}
			}
			return email.msg != nil && msg != "", fmt.Sprintf("%d e-mails, %d Slack messages", len(sink.messages()), len(slack))
		})
		return email, msg
	}

	post(started.Add(time.Hour))
	email, msg := waitFor("FIRING")
	if !email.tls || !email.authed {
		t.Errorf("the firing e-mail came over TLS %v, authenticated %v; want both", email.tls, email.authed)
	}
	if got := email.msg.Header.Get("To"); !strings.Contains(got, "healthcare-api-oncall@") {
		t.Errorf("the firing e-mail went to %q, want on-call", got)
	}
	if !strings.Contains(email.from, plain.Global.From) {
		t.Errorf("envelope sender %q, want %s", email.from, plain.Global.From)
	}
	if !strings.Contains(email.body, name) || !strings.Contains(email.body, runbookBase) {
		t.Errorf("the firing e-mail does not name the alert and its runbook:\n%s", email.body)
	}
	if !strings.Contains(msg, "<!channel>") {
		t.Errorf("the firing Slack message does not page the channel: %s", msg)
	}

	post(time.Now().UTC().Add(-time.Second))
	email, msg = waitFor("RESOLVED")
	if !email.tls || !email.authed {
		t.Errorf("the recovery e-mail came over TLS %v, authenticated %v; want both", email.tls, email.authed)
	}
	if strings.Contains(msg, "<!channel>") {
		t.Errorf("the recovery Slack message pages the channel: %s", msg)
	}

	sink.mu.Lock()
	defer sink.mu.Unlock()
	for _, e := range sink.errs {
		t.Errorf("smtp sink: %s", e)
	}
}

// The sink itself refuses plaintext mail and wrong credentials, so a pass
// above means Alertmanager used STARTTLS and the configured password.
func TestSMTPSinkRequiresTLSAndAuth(t *testing.T) {
	cert, caPEM := selfSigned(t)
	sink := startSMTPSink(t, cert, "user", "right")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	dial := func() (*textproto.Conn, net.Conn) {
		c, err := net.Dial("tcp", sink.addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		tp := textproto.NewConn(c)
		if _, _, err := tp.ReadResponse(220); err != nil {
			t.Fatal(err)
		}
		return tp, c
	}
	expect := func(tp *textproto.Conn, code int, cmd string) {
		t.Helper()
		if err := tp.PrintfLine("%s", cmd); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := tp.ReadResponse(code); err != nil {
			t.Errorf("%s: want %d, got %v %s", cmd, code, err, msg)
		}
	}
	tp, _ := dial()
	expect(tp, 250, "EHLO test")
	expect(tp, 530, "MAIL FROM:<a@b>")

	tp, c := dial()
	expect(tp, 250, "EHLO test")
	expect(tp, 220, "STARTTLS")
	tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tp = textproto.NewConn(tc)
	expect(tp, 250, "EHLO test")
	expect(tp, 535, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00user\x00wrong")))
	expect(tp, 530, "MAIL FROM:<a@b>")
	expect(tp, 235, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00user\x00right")))
	expect(tp, 250, "MAIL FROM:<a@b>")
}
