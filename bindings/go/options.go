// options.go - Options of a Client and how each maps to libmq's
// mq_set_int / mq_set_str / mq_set_will / mq_set_connect_props.
//
// Threading: applied once by NewClient, before any goroutine of the client
// starts.
package mq

import (
	"encoding/hex"
	"strings"
	"time"

	"github.com/libmq/libmq/bindings/go/internal/cmq"
)

// Protocol versions for Options.Protocol.
const (
	ProtocolV311 = 4
	ProtocolV5   = 5
)

// Log levels for Options.LogLevel.
var (
	LogNone    = cmq.MQ_LOG_NONE
	LogError   = cmq.MQ_LOG_ERROR
	LogWarning = cmq.MQ_LOG_WARNING
	LogInfo    = cmq.MQ_LOG_INFO
	LogDebug   = cmq.MQ_LOG_DEBUG
)

// Fsync policies of the persistence store, for Options.PersistSync.
const (
	PersistSyncEvery   = 0 // fsync every message (default)
	PersistSyncBatched = 1 // at most every 50 ms
	PersistSyncNone    = 2 // left to the OS (survives a process crash)
)

// Will is the Last Will message the broker publishes if the connection
// ends without DISCONNECT (Properties: MQTT 5 Will properties, e.g.
// WillDelay, MessageExpiry, ContentType).
type Will struct {
	Topic      string
	Payload    []byte
	QoS        int
	Retain     bool
	Properties *Properties
}

// TLS configures mqtts:// and wss:// connections. Host names are verified
// against the certificate unless NoHostnameCheck or InsecureSkipVerify.
type TLS struct {
	CAFile, CAPath string // PEM file / hashed directory of CA certificates
	CAPEM          string // CA certificates as PEM text
	CertFile       string // client certificate (+ chain), PEM file
	CertPEM        string // the same as PEM text
	KeyFile        string // client private key, PEM file
	KeyPEM         string // the same as PEM text
	KeyPassword    string // password of an encrypted key
	ServerName     string // name to verify instead of the URI's host
	ALPN           string // comma-separated protocol list, e.g. "mqtt"
	Ciphers        string // OpenSSL cipher list (TLS 1.2)
	MinVersion     string // "tlsv1.2" or "tlsv1.3"
	MaxVersion     string // "tlsv1.2" or "tlsv1.3" (default: the newest)
	// NoHostnameCheck verifies the certificate chain but not the host
	// name (like mosquitto_pub --insecure).
	NoHostnameCheck bool
	// InsecureSkipVerify turns all certificate checks off (testing only).
	InsecureSkipVerify bool

	// PSK and PSKIdentity connect with a pre-shared key and no
	// certificates (TLS 1.3 external PSK, TLS 1.2 PSK suites), like
	// mosquitto_pub --psk --psk-identity. PSK is the key itself (at most
	// 256 bytes); a key written in hex for mosquitto's psk_file is
	// hex.DecodeString of it.
	PSK         []byte
	PSKIdentity string

	// CRLFile (PEM or DER) and CRLPath (a directory of <hash>.r0 files)
	// hold certificate revocation lists: a revoked broker certificate
	// fails the handshake (ErrTLS). Every certificate of the chain needs
	// a CRL from its issuer, or only the broker's own with CRLLeafOnly.
	CRLFile, CRLPath string
	CRLLeafOnly      bool

	// KeyURI and CertURI name the key and certificate by URI instead of
	// KeyFile/CertFile: "file:/path", or a scheme of a provider loaded
	// with Providers (e.g. "pkcs11:..."), or with Engine the engine's key
	// id (Debian 12 reaches PKCS#11 tokens through the "pkcs11" engine).
	// KeyPassword is then the token PIN.
	KeyURI, CertURI string
	Providers       string // comma-separated OpenSSL 3 providers to load (once per process)
	Engine          string // OpenSSL engine id for KeyURI, e.g. "pkcs11"

	// NoSessionResume makes every reconnect a full handshake; by default
	// libmq offers the last TLS session to the same server.
	NoSessionResume bool
}

// Proxy sends TCP, TLS and WebSocket connections through a proxy: an HTTP
// CONNECT proxy ("http://user:password@host:3128", Basic auth) or a SOCKS5
// one ("socks5://user:password@host:1080", "socks5h://..."; the proxy
// resolves the broker's name). User and password are percent-decoded
// (url.UserPassword(user, pass).String() encodes them). A refusal by the
// proxy is ErrProxy, bad or missing credentials ErrProxyAuth; libmq never
// falls back to a direct connection. Default port 1080.
type Proxy struct {
	URL string
	// NoProxy lists hosts that go direct: "a.example,.corp,10.0.0.0/8,
	// [::1],*" (names match their subdomains; ":port" limits an entry).
	NoProxy string
	// FromEnvironment, with no URL, takes the proxy from https_proxy
	// (mqtts://, wss://), http_proxy (mqtt://, ws://) or all_proxy and
	// honours no_proxy, like http.ProxyFromEnvironment; read at Connect.
	FromEnvironment bool
}

// Options configure a Client. The zero value of each field means libmq's
// default.
type Options struct {
	Servers        string // "mqtt://host:1883", "mqtts://...", "ws://...", "unix:///path", several comma-separated
	ClientID       string // "" for a broker-assigned id
	Protocol       int    // ProtocolV311 (default) or ProtocolV5
	KeepAlive      time.Duration
	NoCleanStart   bool // keep the session (clean start off)
	SessionExpiry  time.Duration
	Username       string
	Password       []byte // binary-safe
	NoReconnect    bool
	ReconnectMin   time.Duration
	ReconnectMax   time.Duration
	ConnectTimeout time.Duration
	// MQTT 5 CONNECT properties (user properties, authentication method
	// and data, request response/problem information, ...).
	ConnectProperties *Properties
	Will              *Will

	// TLS settings; the fields below the struct are older shorthands for
	// TLS.CAFile, TLS.CertFile, TLS.KeyFile and TLS.InsecureSkipVerify.
	TLS                       TLS
	CAFile, CertFile, KeyFile string
	InsecureSkipVerify        bool
	// An application's OpenSSL SSL_CTX (mq_set_tls_ctx) is C only: Go
	// has no OpenSSL context to give (crypto/tls is not OpenSSL).

	// Proxy to reach the servers through (none by default).
	Proxy Proxy

	// BindAddress is the local (source) address of the connection, a
	// numeric IP address ("127.0.0.2"), like net.Dialer's LocalAddr.
	BindAddress string

	// PersistDir turns on crash-safe persistence of outbound QoS 1/2
	// messages (needs a ClientID): Publish returns only once the message
	// is stored, and a client with the same ClientID and PersistDir
	// resends what was not acknowledged, after a crash too.
	PersistDir  string
	PersistSync int // PersistSync* (default PersistSyncEvery)

	MaxInflight      int           // unacknowledged QoS 1/2 messages (default 20)
	QueueMaxMessages int           // outbound queue bound (default 100000)
	QueueMaxBytes    int64         // outbound queue bound (default 64 MiB)
	PublishTimeout   time.Duration // >0: Publish waits this long for queue space instead of ErrQueueFull
	// DisconnectTimeout bounds how long Disconnect may take to deliver
	// what was published before it (default 5 s).
	DisconnectTimeout time.Duration
	RefuseOfflineQoS0 bool // QoS 0 while offline: ErrNoConn instead of queueing
	NoTCPNoDelay      bool // leave Nagle's algorithm on
	MaxPacketSize     int  // largest packet sent/accepted
	ReceiveMaximum    int  // MQTT 5: our Receive Maximum (default 65535)
	TopicAliasMaximum int  // MQTT 5: topic aliases we accept (default 0)
	// TopicAliasAuto > 0: libmq gives repeated topics outbound topic
	// aliases (at most this many, at most the broker's maximum).
	TopicAliasAuto int
	// ProtocolFallback: an MQTT 5 client connects again with 3.1.1 when
	// the broker answers the 3.1.1 way (see Client.ProtocolInUse).
	ProtocolFallback bool

	// MaxEvents bounds the events libmq holds for this client before it
	// stops reading the socket (default 10000); EventBuffer bounds the
	// events the Go layer holds for the handler goroutine (default 256).
	// Together they keep a slow handler (or an unread Messages channel)
	// from growing memory: the broker is then held back by TCP.
	MaxEvents     int
	MaxEventBytes int64 // libmq's bound in bytes (default 32 MiB)
	EventBuffer   int
	// Buffer of the Messages channel (default 256).
	MessageBuffer int

	// DefaultHandler receives every message that no subscription handler
	// takes, from the first message on (messages of a persistent session
	// arrive right after connecting, before Subscribe could run). Without
	// it such messages go to Messages().
	DefaultHandler MessageHandler
	// Called on the handler goroutine after each (re)connection.
	OnConnect func(c *Client, info ConnectInfo)
	// Called on the handler goroutine when the connection is lost or an
	// attempt fails; err is nil after Disconnect. willReconnect: libmq is
	// retrying.
	OnConnectionLost func(c *Client, err error, willReconnect bool)
	// LogLevel > LogNone sends libmq's log lines to OnLog (handler
	// goroutine).
	LogLevel int
	OnLog    func(c *Client, level int, message string)
	// OnAuth receives MQTT 5 AUTH packets from the broker (enhanced
	// authentication); answer with Client.Auth.
	OnAuth func(c *Client, reason int, props *Properties)
	// OnRecovered is told, before anything is sent, of each message found
	// in the PersistDir store and resent by libmq (Tag: the one given to
	// PublishAsync); PacketID is then the publish's token.
	OnRecovered func(c *Client, m *Message)
	// OnResubscribe is told of each subscription libmq renewed by itself
	// after a reconnect where the broker had lost the session: the filter
	// and the SUBACK code (granted QoS, or a failure >= 0x80).
	OnResubscribe func(c *Client, filter string, code int, props *Properties)
}

// apply sets the options on a new client handle.
func (o *Options) apply(h cmq.Struct_SS_mq_client) error {
	var err error
	try := func(e error) {
		if err == nil && e != nil {
			err = e
		}
	}
	setInt := func(op string, opt int, v int64) {
		try(mqErr(op, cmq.Mq_set_int(h, opt, v)))
	}
	setStr := func(op string, opt int, v string) {
		if v == "" {
			return
		}
		if strings.IndexByte(v, 0) >= 0 {
			try(&Error{Op: op, Code: cmq.MQ_ERR_INVAL})
			return
		}
		try(mqErr(op, cmq.Mq_set_str(h, opt, v)))
	}
	ms := func(d time.Duration) int64 { return int64(d / time.Millisecond) }
	if o.KeepAlive != 0 {
		setInt("KeepAlive", cmq.MQ_OPT_KEEPALIVE_S, int64(o.KeepAlive/time.Second))
	}
	if o.NoCleanStart {
		setInt("NoCleanStart", cmq.MQ_OPT_CLEAN_START, 0)
	}
	if o.SessionExpiry != 0 {
		setInt("SessionExpiry", cmq.MQ_OPT_SESSION_EXPIRY_S, int64(o.SessionExpiry/time.Second))
	}
	if o.NoReconnect {
		setInt("NoReconnect", cmq.MQ_OPT_RECONNECT, 0)
	}
	if o.ReconnectMin != 0 {
		setInt("ReconnectMin", cmq.MQ_OPT_RECONNECT_MIN_MS, ms(o.ReconnectMin))
	}
	if o.ReconnectMax != 0 {
		setInt("ReconnectMax", cmq.MQ_OPT_RECONNECT_MAX_MS, ms(o.ReconnectMax))
	}
	if o.ConnectTimeout != 0 {
		setInt("ConnectTimeout", cmq.MQ_OPT_CONNECT_TIMEOUT_MS, ms(o.ConnectTimeout))
	}
	if o.MaxInflight != 0 {
		setInt("MaxInflight", cmq.MQ_OPT_MAX_INFLIGHT, int64(o.MaxInflight))
	}
	if o.QueueMaxMessages != 0 {
		setInt("QueueMaxMessages", cmq.MQ_OPT_QUEUE_MAX_MSGS, int64(o.QueueMaxMessages))
	}
	if o.QueueMaxBytes != 0 {
		setInt("QueueMaxBytes", cmq.MQ_OPT_QUEUE_MAX_BYTES, o.QueueMaxBytes)
	}
	if o.PublishTimeout != 0 {
		setInt("PublishTimeout", cmq.MQ_OPT_PUBLISH_TIMEOUT_MS, ms(o.PublishTimeout))
	}
	if o.RefuseOfflineQoS0 {
		setInt("RefuseOfflineQoS0", cmq.MQ_OPT_OFFLINE_QOS0, 0)
	}
	if o.NoTCPNoDelay {
		setInt("NoTCPNoDelay", cmq.MQ_OPT_TCP_NODELAY, 0)
	}
	if o.MaxPacketSize != 0 {
		setInt("MaxPacketSize", cmq.MQ_OPT_MAX_PACKET_SIZE, int64(o.MaxPacketSize))
	}
	if o.ReceiveMaximum != 0 {
		setInt("ReceiveMaximum", cmq.MQ_OPT_RECEIVE_MAXIMUM, int64(o.ReceiveMaximum))
	}
	if o.TopicAliasMaximum != 0 {
		setInt("TopicAliasMaximum", cmq.MQ_OPT_TOPIC_ALIAS_MAXIMUM, int64(o.TopicAliasMaximum))
	}
	if o.TopicAliasAuto != 0 {
		setInt("TopicAliasAuto", cmq.MQ_OPT_TOPIC_ALIAS_AUTO, int64(o.TopicAliasAuto))
	}
	if o.ProtocolFallback {
		setInt("ProtocolFallback", cmq.MQ_OPT_PROTOCOL_FALLBACK, 1)
	}
	if o.MaxEventBytes != 0 {
		setInt("MaxEventBytes", cmq.MQ_OPT_MAX_EVENT_BYTES, o.MaxEventBytes)
	}
	if o.DisconnectTimeout != 0 {
		setInt("DisconnectTimeout", cmq.MQ_OPT_DISCONNECT_TIMEOUT_MS, ms(o.DisconnectTimeout))
	}
	if o.MaxEvents != 0 {
		setInt("MaxEvents", cmq.MQ_OPT_MAX_EVENTS, int64(o.MaxEvents))
	}
	if o.EventBuffer < 0 || o.MessageBuffer < 0 {
		try(&Error{Op: "EventBuffer/MessageBuffer", Code: cmq.MQ_ERR_INVAL})
	}
	if o.LogLevel != 0 {
		setInt("LogLevel", cmq.MQ_OPT_LOG_LEVEL, int64(o.LogLevel))
	}
	// Every QoS 1/2 publish completes with an event (libmq's default);
	// QoS 0 publishes return once queued.
	setInt("PublishEvents", cmq.MQ_OPT_PUBLISH_EVENTS, 1)

	t := o.TLS
	if t.CAFile == "" {
		t.CAFile = o.CAFile
	}
	if t.CertFile == "" {
		t.CertFile = o.CertFile
	}
	if t.KeyFile == "" {
		t.KeyFile = o.KeyFile
	}
	if o.InsecureSkipVerify {
		t.InsecureSkipVerify = true
	}
	if t.InsecureSkipVerify {
		setInt("TLS.InsecureSkipVerify", cmq.MQ_OPT_TLS_INSECURE, 1)
	}
	if t.NoHostnameCheck {
		setInt("TLS.NoHostnameCheck", cmq.MQ_OPT_TLS_NO_HOSTNAME_CHECK, 1)
	}
	setStr("TLS.CAFile", cmq.MQ_SOPT_TLS_CA_FILE, t.CAFile)
	setStr("TLS.CAPath", cmq.MQ_SOPT_TLS_CA_PATH, t.CAPath)
	setStr("TLS.CAPEM", cmq.MQ_SOPT_TLS_CA_PEM, t.CAPEM)
	setStr("TLS.CertFile", cmq.MQ_SOPT_TLS_CERT_FILE, t.CertFile)
	setStr("TLS.CertPEM", cmq.MQ_SOPT_TLS_CERT_PEM, t.CertPEM)
	setStr("TLS.KeyFile", cmq.MQ_SOPT_TLS_KEY_FILE, t.KeyFile)
	setStr("TLS.KeyPEM", cmq.MQ_SOPT_TLS_KEY_PEM, t.KeyPEM)
	setStr("TLS.KeyPassword", cmq.MQ_SOPT_TLS_KEY_PASSWORD, t.KeyPassword)
	setStr("TLS.ServerName", cmq.MQ_SOPT_TLS_VERIFY_NAME, t.ServerName)
	setStr("TLS.ALPN", cmq.MQ_SOPT_TLS_ALPN, t.ALPN)
	setStr("TLS.Ciphers", cmq.MQ_SOPT_TLS_CIPHERS, t.Ciphers)
	setStr("TLS.MinVersion", cmq.MQ_SOPT_TLS_MIN_VERSION, t.MinVersion)
	setStr("TLS.MaxVersion", cmq.MQ_SOPT_TLS_MAX_VERSION, t.MaxVersion)
	if t.PSK != nil {
		setStr("TLS.PSK", cmq.MQ_SOPT_TLS_PSK, hex.EncodeToString(t.PSK))
	}
	setStr("TLS.PSKIdentity", cmq.MQ_SOPT_TLS_PSK_IDENTITY, t.PSKIdentity)
	setStr("TLS.CRLFile", cmq.MQ_SOPT_TLS_CRL_FILE, t.CRLFile)
	setStr("TLS.CRLPath", cmq.MQ_SOPT_TLS_CRL_PATH, t.CRLPath)
	if t.CRLLeafOnly {
		setInt("TLS.CRLLeafOnly", cmq.MQ_OPT_TLS_CRL_CHECK, 1)
	}
	setStr("TLS.Providers", cmq.MQ_SOPT_TLS_PROVIDERS, t.Providers)
	setStr("TLS.Engine", cmq.MQ_SOPT_TLS_ENGINE, t.Engine)
	setStr("TLS.KeyURI", cmq.MQ_SOPT_TLS_KEY_URI, t.KeyURI)
	setStr("TLS.CertURI", cmq.MQ_SOPT_TLS_CERT_URI, t.CertURI)
	if t.NoSessionResume {
		setInt("TLS.NoSessionResume", cmq.MQ_OPT_TLS_SESSION_RESUME, 0)
	}

	setStr("Proxy.URL", cmq.MQ_SOPT_PROXY, o.Proxy.URL)
	setStr("Proxy.NoProxy", cmq.MQ_SOPT_NO_PROXY, o.Proxy.NoProxy)
	if o.Proxy.FromEnvironment {
		setInt("Proxy.FromEnvironment", cmq.MQ_OPT_PROXY_FROM_ENV, 1)
	}

	setStr("Username", cmq.MQ_SOPT_USERNAME, o.Username)
	if o.Password != nil {
		try(mqErr("Password", cmq.Mq_set_password(h, o.Password)))
	}
	if o.ConnectProperties != nil {
		p, e := cProps("ConnectProperties", o.ConnectProperties)
		try(e)
		if e == nil {
			try(mqErr("ConnectProperties", cmq.Mq_set_connect_props(h, p)))
			freeProps(p)
		}
	}
	if w := o.Will; w != nil {
		if strings.IndexByte(w.Topic, 0) >= 0 {
			try(&Error{Op: "Will", Code: cmq.MQ_ERR_UTF8})
		} else {
			p, e := cProps("Will", w.Properties)
			try(e)
			if e == nil {
				try(mqErr("Will", cmq.Mq_set_will(h, w.Topic, w.Payload, w.QoS, b2i(w.Retain), p)))
				freeProps(p)
			}
		}
	}
	if o.PersistSync != 0 {
		setInt("PersistSync", cmq.MQ_OPT_PERSIST_SYNC, int64(o.PersistSync))
	}
	setStr("PersistDir", cmq.MQ_SOPT_PERSIST_DIR, o.PersistDir)
	setStr("BindAddress", cmq.MQ_SOPT_BIND_ADDRESS, o.BindAddress)
	if o.Servers != "" {
		if strings.IndexByte(o.Servers, 0) >= 0 {
			try(&Error{Op: "Servers", Code: cmq.MQ_ERR_URI})
		} else {
			try(mqErr("Servers", cmq.Mq_set_server(h, o.Servers)))
		}
	}
	return err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
