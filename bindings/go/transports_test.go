package mq

// Tests of issue 19's transports in the Go binding: TLS-PSK against
// mosquitto's psk listener, ConnectInfo.TLS (version, cipher, resumption),
// TLS.MaxVersion, CRLs, and Options.Proxy through tinyproxy (Basic auth),
// its refusals as ErrProxy / ErrProxyAuth, NoProxy and FromEnvironment.
// Against the broker and proxy of bindings/tests/with-broker.sh.

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func needEnv(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if os.Getenv(n) == "" {
			t.Skipf("%s not set (run under bindings/tests/with-broker.sh; tinyproxy for the proxy tests)", n)
		}
	}
}

// attempt connects a new client with opts and returns it (closed at the
// end of the test), the ConnectInfo of its first CONNACK, and Connect's
// error. opts.OnConnect is taken.
func attempt(t *testing.T, opts Options) (*Client, *ConnectInfo, error) {
	t.Helper()
	infos := make(chan ConnectInfo, 4)
	opts.OnConnect = func(c *Client, info ConnectInfo) { infos <- info }
	if opts.ClientID == "" {
		opts.ClientID = uniqueID("gotp")
	}
	c, err := NewClient(opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	info, err := connectAgain(t, c, infos)
	return c, info, err
}

// connectAgain runs c.Connect and waits for OnConnect's info (delivered
// on the handler goroutine, after Connect returns).
func connectAgain(t *testing.T, c *Client, infos chan ConnectInfo) (*ConnectInfo, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	select {
	case info := <-infos:
		return &info, nil
	case <-time.After(10 * time.Second):
		t.Fatal("OnConnect was not called")
		return nil, nil
	}
}

func publishAcked(t *testing.T, c *Client, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Publish(ctx, topic, []byte("x"), 1, false); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

func TestPSK(t *testing.T) {
	needEnv(t, "MQ_TEST_PSK_URI")
	key, err := hex.DecodeString(os.Getenv("MQ_TEST_PSK_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	id := os.Getenv("MQ_TEST_PSK_IDENTITY")
	c, info, err := attempt(t, Options{Servers: os.Getenv("MQ_TEST_PSK_URI"), NoReconnect: true,
		TLS: TLS{PSK: key, PSKIdentity: id}})
	if err != nil {
		t.Fatalf("PSK connect: %v", err)
	}
	if info.TLS == nil || info.TLS.Version != "TLSv1.3" || !strings.HasPrefix(info.TLS.CipherSuite, "TLS_") {
		t.Errorf("TLS 1.3 PSK: %+v", info.TLS)
	}
	publishAcked(t, c, "go/psk")

	_, info, err = attempt(t, Options{Servers: os.Getenv("MQ_TEST_PSK_URI"), NoReconnect: true,
		TLS: TLS{PSK: key, PSKIdentity: id, MaxVersion: "tlsv1.2"}})
	if err != nil {
		t.Fatalf("TLS 1.2 PSK connect: %v", err)
	}
	if info.TLS.Version != "TLSv1.2" || !strings.Contains(info.TLS.CipherSuite, "PSK") {
		t.Errorf("TLS 1.2 PSK: %+v", info.TLS)
	}

	// A wrong key is refused at once, with reconnect on.
	start := time.Now()
	_, _, err = attempt(t, Options{Servers: os.Getenv("MQ_TEST_PSK_URI"),
		TLS: TLS{PSK: []byte{0x0b, 0xad}, PSKIdentity: id}})
	if !errors.Is(err, ErrTLS) || time.Since(start) > 8*time.Second {
		t.Errorf("wrong PSK: %v after %v", err, time.Since(start))
	}
}

func TestTLSInfoAndResumption(t *testing.T) {
	needEnv(t, "MQ_TEST_TLS_URI", "MQ_TEST_CA")
	uri, ca := os.Getenv("MQ_TEST_TLS_URI"), os.Getenv("MQ_TEST_CA")
	for _, resume := range []bool{true, false} {
		infos := make(chan ConnectInfo, 4)
		c, err := NewClient(Options{Servers: uri, ClientID: uniqueID("goresume"), NoReconnect: true,
			TLS:       TLS{CAFile: ca, NoSessionResume: !resume},
			OnConnect: func(c *Client, info ConnectInfo) { infos <- info }})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		info, err := connectAgain(t, c, infos)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		tls := info.TLS
		if tls == nil || !regexp.MustCompile(`^TLSv1\.[23]$`).MatchString(tls.Version) ||
			tls.CipherSuite == "" || tls.NegotiatedProtocol != "" || tls.DidResume {
			t.Fatalf("first connection: %+v", tls)
		}
		publishAcked(t, c, "go/tlsinfo") // the TLS 1.3 ticket came by now
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c.Disconnect(ctx); err != nil {
			t.Fatalf("Disconnect: %v", err)
		}
		cancel()
		info, err = connectAgain(t, c, infos)
		if err != nil {
			t.Fatalf("connect again: %v", err)
		}
		if info.TLS == nil || info.TLS.DidResume != resume {
			t.Errorf("second connection (resume %v): %+v", resume, info.TLS)
		}
	}

	_, info, err := attempt(t, Options{Servers: uri, NoReconnect: true,
		TLS: TLS{CAFile: ca, MaxVersion: "tlsv1.2"}})
	if err != nil || info.TLS.Version != "TLSv1.2" {
		t.Errorf("MaxVersion tlsv1.2: %v %+v", err, info)
	}
	_, info, err = attempt(t, Options{Servers: brokerURI(t), NoReconnect: true})
	if err != nil || info.TLS != nil {
		t.Errorf("plain TCP: %v, TLS %+v", err, info)
	}
}

func TestCRL(t *testing.T) {
	needEnv(t, "MQ_TEST_TLS_URI", "MQ_TEST_CA", "MQ_TEST_CERTS")
	uri, ca, certs := os.Getenv("MQ_TEST_TLS_URI"), os.Getenv("MQ_TEST_CA"), os.Getenv("MQ_TEST_CERTS")
	if _, _, err := attempt(t, Options{Servers: uri, NoReconnect: true,
		TLS: TLS{CAFile: ca, CRLFile: certs + "/crl-empty.pem"}}); err != nil {
		t.Errorf("CRL revoking nothing: %v", err)
	}
	for _, tls := range []TLS{
		{CAFile: ca, CRLFile: certs + "/crl-revoked.pem"},
		{CAFile: ca, CRLPath: certs + "/crl-dir", CRLLeafOnly: true},
	} {
		_, _, err := attempt(t, Options{Servers: uri, TLS: tls})
		if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "revoked") {
			t.Errorf("revoked certificate (%+v): %v", tls, err)
		}
	}
}

// proxyTunnels counts the tunnels tinyproxy opened to the broker's plain
// port.
func proxyTunnels(t *testing.T) int {
	t.Helper()
	log, err := os.ReadFile(os.Getenv("MQ_TEST_PROXY_LOG"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(log), "CONNECT 127.0.0.1:"+os.Getenv("MQ_TEST_PORT")+" ")
}

func TestProxy(t *testing.T) {
	needEnv(t, "MQ_TEST_PROXY_URI", "MQ_TEST_PROXY_LOG")
	broker := brokerURI(t)
	hostPort := net.JoinHostPort(os.Getenv("MQ_TEST_PROXY_HOST"), os.Getenv("MQ_TEST_PROXY_PORT"))
	proxy := (&url.URL{Scheme: "http", Host: hostPort,
		User: url.UserPassword(os.Getenv("MQ_TEST_PROXY_USER"), os.Getenv("MQ_TEST_PROXY_PASS"))}).String()
	before := proxyTunnels(t)
	c, _, err := attempt(t, Options{Servers: broker, NoReconnect: true, Proxy: Proxy{URL: proxy}})
	if err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	publishAcked(t, c, "go/proxy")
	if n := proxyTunnels(t); n != before+1 {
		t.Errorf("tinyproxy opened %d tunnels, want 1", n-before)
	}

	// NoProxy: the broker's address goes direct
	if _, _, err := attempt(t, Options{Servers: broker, NoReconnect: true,
		Proxy: Proxy{URL: proxy, NoProxy: "127.0.0.1"}}); err != nil {
		t.Errorf("NoProxy: %v", err)
	}
	if n := proxyTunnels(t); n != before+1 {
		t.Errorf("NoProxy: tinyproxy opened %d tunnels, want 1", n-before)
	}

	// FromEnvironment: http_proxy for mqtt://
	t.Setenv("http_proxy", proxy)
	t.Setenv("no_proxy", "")
	if _, _, err := attempt(t, Options{Servers: broker, NoReconnect: true,
		Proxy: Proxy{FromEnvironment: true}}); err != nil {
		t.Errorf("FromEnvironment: %v", err)
	}
	if n := proxyTunnels(t); n != before+2 {
		t.Errorf("FromEnvironment: tinyproxy opened %d tunnels, want 2", n-before)
	}

	// Refusals come back from Connect at once, with reconnect on.
	noAuth := "http://" + hostPort
	wrong := (&url.URL{Scheme: "http", Host: hostPort, User: url.UserPassword("mq", "wrong")}).String()
	for _, tc := range []struct {
		servers, proxy string
		want           error
	}{
		{"mqtt://127.0.0.1:1", proxy, ErrProxy}, // nothing listens there
		{broker, noAuth, ErrProxyAuth},
		{broker, wrong, ErrProxyAuth},
	} {
		start := time.Now()
		_, _, err := attempt(t, Options{Servers: tc.servers, Proxy: Proxy{URL: tc.proxy}})
		if !errors.Is(err, tc.want) || time.Since(start) > 8*time.Second {
			t.Errorf("%s via %s: %v after %v, want %v", tc.servers, tc.proxy, err, time.Since(start), tc.want)
		}
	}
	if _, err := NewClient(Options{Proxy: Proxy{URL: "https://proxy.example:443"}}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("https proxy: %v", err)
	}
}
