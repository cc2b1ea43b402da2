// Package mq is an MQTT 3.1.1/5.0 client for Go over libmq (a C library;
// the SWIG layer is in internal/cmq).
//
// Threading: libmq does its network work on its own thread and never calls
// into Go. Each Client runs one goroutine that pulls events from libmq
// (mq_next_event) and one that runs handlers, so handlers and the
// OnConnect/OnConnectionLost callbacks are called from a single goroutine
// of the client, in the order the events happened. A handler may call
// Publish (even with QoS > 0 and a wait): acknowledgements are delivered by
// the other goroutine.
package mq

import (
	"context"
	"fmt"
	"sync"
	"time"

	"example.invalid/libmq/bindings/go/internal/cmq"
)

// Protocol versions for Options.Protocol.
const (
	ProtocolV311 = 4
	ProtocolV5   = 5
)

// Error is an error reported by libmq. Op names the call, Code is the
// negative MQ_ERR_* code and Reason an MQTT reason code from the broker
// (0 if none). errors.Is(err, mq.ErrTopic) compares codes.
type Error struct {
	Op     string
	Code   int
	Reason int
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s (%s)", cmq.Mq_strerror(e.Code), cmq.Mq_err_name(e.Code))
	if e.Reason != 0 {
		msg += fmt.Sprintf(": %s (0x%02x)", cmq.Mq_reason_string(e.Reason), e.Reason)
	}
	if e.Op != "" {
		return "mq: " + e.Op + ": " + msg
	}
	return "mq: " + msg
}

// Is reports whether target is an *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinel errors for errors.Is.
var (
	ErrNoMem      = &Error{Code: cmq.MQ_ERR_NOMEM}
	ErrInval      = &Error{Code: cmq.MQ_ERR_INVAL}
	ErrState      = &Error{Code: cmq.MQ_ERR_STATE}
	ErrQueueFull  = &Error{Code: cmq.MQ_ERR_QUEUE_FULL}
	ErrTooLarge   = &Error{Code: cmq.MQ_ERR_TOO_LARGE}
	ErrTopic      = &Error{Code: cmq.MQ_ERR_TOPIC}
	ErrQoS        = &Error{Code: cmq.MQ_ERR_QOS}
	ErrUTF8       = &Error{Code: cmq.MQ_ERR_UTF8}
	ErrURI        = &Error{Code: cmq.MQ_ERR_URI}
	ErrTimeout    = &Error{Code: cmq.MQ_ERR_TIMEOUT}
	ErrNoConn     = &Error{Code: cmq.MQ_ERR_NO_CONN}
	ErrRefused    = &Error{Code: cmq.MQ_ERR_REFUSED}
	ErrDestroyed  = &Error{Code: cmq.MQ_ERR_DESTROYED}
	ErrAborted    = &Error{Code: cmq.MQ_ERR_ABORTED}
	ErrNotSupport = &Error{Code: cmq.MQ_ERR_NOT_SUPPORTED}
)

func mqErr(op string, rc int) error {
	if rc >= 0 {
		return nil
	}
	return &Error{Op: op, Code: rc}
}

// UserProperty is an MQTT 5 user property.
type UserProperty struct{ Key, Value string }

// Properties holds the MQTT 5 properties of a received packet that most
// applications use.
type Properties struct {
	User            []UserProperty
	ContentType     string
	ResponseTopic   string
	CorrelationData []byte
	ReasonString    string
}

// Message is a received PUBLISH.
type Message struct {
	Topic      string
	Payload    []byte
	QoS        int
	Retain     bool
	Dup        bool
	PacketID   int
	Properties *Properties // nil for MQTT 3.1.1 or when there were none
}

// MessageHandler handles messages of a subscription.
type MessageHandler func(c *Client, m *Message)

// ConnectInfo describes a successful connection (CONNACK).
type ConnectInfo struct {
	SessionPresent bool
	Properties     *Properties
}

// Options configure a Client. The zero value of each field means libmq's
// default.
type Options struct {
	Servers        string // "mqtt://host:1883", "mqtts://...", "ws://...", several comma-separated
	ClientID       string // "" for a broker-assigned id
	Protocol       int    // ProtocolV311 (default) or ProtocolV5
	KeepAlive      time.Duration
	NoCleanStart   bool // keep the session (clean start off)
	SessionExpiry  time.Duration
	Username       string
	Password       []byte
	NoReconnect    bool
	ReconnectMin   time.Duration
	ReconnectMax   time.Duration
	ConnectTimeout time.Duration
	// TLS (mqtts://, wss://): PEM file paths; InsecureSkipVerify turns
	// certificate and host name checks off (testing only).
	CAFile, CertFile, KeyFile string
	InsecureSkipVerify        bool
	// Buffer of the Messages channel (default 256).
	MessageBuffer int
	// Called on the handler goroutine after each (re)connection.
	OnConnect func(c *Client, info ConnectInfo)
	// Called on the handler goroutine when the connection is lost; err
	// is nil after Disconnect. willReconnect: libmq is retrying.
	OnConnectionLost func(c *Client, err error, willReconnect bool)
}

type result struct {
	err   error
	codes []int
}

type subscription struct {
	filter  string
	handler MessageHandler
}

// Client is one MQTT connection. Its methods may be called from any
// goroutine. Call Close when done with it.
type Client struct {
	life   sync.RWMutex // held (R) around every C call on h; W by Close
	h      cmq.Struct_SS_mq_client
	closed bool

	mu        sync.Mutex // guards the maps and slices below
	waiters   map[int]chan result
	connWait  []chan error
	discWait  []chan error
	lastErr   error
	connected bool
	subs      []subscription

	msgs chan *Message

	qmu   sync.Mutex
	qcond *sync.Cond
	queue []func()
	qstop bool

	stop     chan struct{}
	pollDone chan struct{}
	opts     Options
}

// NewClient creates a client; nothing touches the network until Connect.
func NewClient(opts Options) (*Client, error) {
	proto := opts.Protocol
	if proto == 0 {
		proto = ProtocolV311
	}
	h := cmq.Mq_client_new(opts.ClientID, proto)
	if h.Swigcptr() == 0 {
		return nil, &Error{Op: "NewClient (bad ClientID or Protocol)", Code: cmq.MQ_ERR_INVAL}
	}
	set := func(op string, opt int, v int64) error {
		return mqErr(op, cmq.Mq_set_int(h, opt, v))
	}
	ms := func(d time.Duration) int64 { return int64(d / time.Millisecond) }
	var err error
	try := func(e error) {
		if err == nil {
			err = e
		}
	}
	if opts.KeepAlive != 0 {
		try(set("KeepAlive", cmq.MQ_OPT_KEEPALIVE_S, int64(opts.KeepAlive/time.Second)))
	}
	if opts.NoCleanStart {
		try(set("NoCleanStart", cmq.MQ_OPT_CLEAN_START, 0))
	}
	if opts.SessionExpiry != 0 {
		try(set("SessionExpiry", cmq.MQ_OPT_SESSION_EXPIRY_S, int64(opts.SessionExpiry/time.Second)))
	}
	if opts.NoReconnect {
		try(set("NoReconnect", cmq.MQ_OPT_RECONNECT, 0))
	}
	if opts.ReconnectMin != 0 {
		try(set("ReconnectMin", cmq.MQ_OPT_RECONNECT_MIN_MS, ms(opts.ReconnectMin)))
	}
	if opts.ReconnectMax != 0 {
		try(set("ReconnectMax", cmq.MQ_OPT_RECONNECT_MAX_MS, ms(opts.ReconnectMax)))
	}
	if opts.ConnectTimeout != 0 {
		try(set("ConnectTimeout", cmq.MQ_OPT_CONNECT_TIMEOUT_MS, ms(opts.ConnectTimeout)))
	}
	if opts.InsecureSkipVerify {
		try(set("InsecureSkipVerify", cmq.MQ_OPT_TLS_INSECURE, 1))
	}
	for _, f := range []struct {
		name string
		opt  int
		val  string
	}{{"CAFile", cmq.MQ_SOPT_TLS_CA_FILE, opts.CAFile},
		{"CertFile", cmq.MQ_SOPT_TLS_CERT_FILE, opts.CertFile},
		{"KeyFile", cmq.MQ_SOPT_TLS_KEY_FILE, opts.KeyFile}} {
		if f.val != "" {
			try(mqErr(f.name, cmq.Mq_set_str(h, f.opt, f.val)))
		}
	}
	if opts.Username != "" {
		try(mqErr("Username", cmq.Mq_set_str(h, cmq.MQ_SOPT_USERNAME, opts.Username)))
	}
	if opts.Password != nil {
		try(mqErr("Password", cmq.Mq_set_password(h, opts.Password)))
	}
	if opts.Servers != "" {
		try(mqErr("Servers", cmq.Mq_set_server(h, opts.Servers)))
	}
	if err != nil {
		cmq.Mq_client_destroy(h)
		return nil, err
	}
	buf := opts.MessageBuffer
	if buf <= 0 {
		buf = 256
	}
	c := &Client{
		h:        h,
		waiters:  make(map[int]chan result),
		msgs:     make(chan *Message, buf),
		stop:     make(chan struct{}),
		pollDone: make(chan struct{}),
		opts:     opts,
	}
	c.qcond = sync.NewCond(&c.qmu)
	go c.poll()
	go c.dispatch()
	return c, nil
}

// call runs f with the C handle, or returns ErrDestroyed after Close.
func (c *Client) call(op string, f func(h cmq.Struct_SS_mq_client) int) (int, error) {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return 0, &Error{Op: op, Code: cmq.MQ_ERR_DESTROYED}
	}
	rc := f(c.h)
	return rc, mqErr(op, rc)
}

// Messages delivers the messages that no subscription handler took (those
// of subscriptions made with a nil handler). Drain it if you use it: while
// it is full, handlers wait too.
func (c *Client) Messages() <-chan *Message { return c.msgs }

// ClientID is the client id (the broker-assigned one once known).
func (c *Client) ClientID() string {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return ""
	}
	return cmq.Mq_client_id(c.h)
}

// IsConnected reports whether a CONNACK was received and the connection
// is up.
func (c *Client) IsConnected() bool {
	rc, err := c.call("IsConnected", func(h cmq.Struct_SS_mq_client) int {
		return cmq.Mq_is_connected(h)
	})
	return err == nil && rc == 1
}

// SetServers replaces the server list (see Options.Servers).
func (c *Client) SetServers(uris string) error {
	_, err := c.call("SetServers", func(h cmq.Struct_SS_mq_client) int {
		return cmq.Mq_set_server(h, uris)
	})
	return err
}

// Connect connects and waits for the broker's CONNACK. While the broker
// cannot be reached libmq keeps retrying (unless NoReconnect), so Connect
// returns when connected, when the broker refuses (an *Error with Code
// MQ_ERR_REFUSED and the reason code), or when ctx ends; it then stops the
// retries and returns ctx's error wrapped with the last connection error.
// After a successful Connect libmq reconnects by itself on loss.
func (c *Client) Connect(ctx context.Context) error {
	ch := make(chan error, 1)
	c.mu.Lock()
	c.connWait = append(c.connWait, ch)
	c.lastErr = nil
	c.mu.Unlock()
	if _, err := c.call("Connect", func(h cmq.Struct_SS_mq_client) int {
		return cmq.Mq_connect(h)
	}); err != nil {
		c.dropConnWaiter(ch)
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		c.dropConnWaiter(ch)
		c.call("Connect", func(h cmq.Struct_SS_mq_client) int {
			return cmq.Mq_disconnect(h, 0)
		})
		c.mu.Lock()
		last := c.lastErr
		c.mu.Unlock()
		if last != nil {
			return fmt.Errorf("mq: Connect: %w (last error: %v)", ctx.Err(), last)
		}
		return fmt.Errorf("mq: Connect: %w", ctx.Err())
	}
}

func (c *Client) dropConnWaiter(ch chan error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, w := range c.connWait {
		if w == ch {
			c.connWait = append(c.connWait[:i], c.connWait[i+1:]...)
			return
		}
	}
}

// waitToken waits for the event of token (registered by the caller).
func (c *Client) waitToken(ctx context.Context, token int, ch chan result) (result, error) {
	select {
	case r := <-ch:
		return r, r.err
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.waiters, token)
		c.mu.Unlock()
		return result{}, ctx.Err()
	}
}

// start runs a token-returning C call and registers a waiter for the
// token before any event for it can be dispatched.
func (c *Client) start(op string, f func(h cmq.Struct_SS_mq_client) int, wait bool) (int, chan result, error) {
	// Lock order everywhere: life, then mu (poll holds life around handle).
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return 0, nil, &Error{Op: op, Code: cmq.MQ_ERR_DESTROYED}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	token := f(c.h)
	if token < 0 || !wait {
		return token, nil, mqErr(op, token)
	}
	ch := make(chan result, 1)
	c.waiters[token] = ch
	return token, ch, nil
}

// Publish sends payload to topic. With qos 0 it returns once libmq has
// queued the message; with qos 1 or 2 it waits for PUBACK / PUBCOMP and
// returns the broker's refusal, if any, as an *Error with the reason code.
// If ctx ends first it returns ctx's error; the message stays queued.
func (c *Client) Publish(ctx context.Context, topic string, payload []byte, qos int, retain bool) error {
	r := 0
	if retain {
		r = 1
	}
	token, ch, err := c.start("Publish", func(h cmq.Struct_SS_mq_client) int {
		return cmq.Mq_publish(h, topic, payload, qos, r)
	}, qos > 0)
	if err != nil || qos == 0 {
		return err
	}
	_, err = c.waitToken(ctx, token, ch)
	return err
}

// Subscribe subscribes to filter and waits for the SUBACK. Messages that
// match filter go to handler (called on the client's handler goroutine),
// or to Messages() when handler is nil. It returns the broker's refusal as
// an *Error (ErrRefused) with the SUBACK reason code.
func (c *Client) Subscribe(ctx context.Context, filter string, qos int, handler MessageHandler) error {
	if rc := cmq.Mq_filter_check(filter); rc < 0 {
		return mqErr("Subscribe", rc)
	}
	c.mu.Lock()
	c.removeSub(filter)
	c.subs = append(c.subs, subscription{filter, handler})
	c.mu.Unlock()
	token, ch, err := c.start("Subscribe", func(h cmq.Struct_SS_mq_client) int {
		return cmq.Mq_subscribe(h, filter, qos)
	}, true)
	if err == nil {
		var res result
		res, err = c.waitToken(ctx, token, ch)
		if err == nil && len(res.codes) > 0 && res.codes[0] >= 0x80 {
			err = &Error{Op: "Subscribe", Code: cmq.MQ_ERR_REFUSED, Reason: res.codes[0]}
		}
	}
	if err != nil {
		c.mu.Lock()
		c.removeSub(filter)
		c.mu.Unlock()
	}
	return err
}

func (c *Client) removeSub(filter string) {
	for i, s := range c.subs {
		if s.filter == filter {
			c.subs = append(c.subs[:i], c.subs[i+1:]...)
			return
		}
	}
}

// Unsubscribe removes the subscription and waits for the UNSUBACK.
func (c *Client) Unsubscribe(ctx context.Context, filter string) error {
	token, ch, err := c.start("Unsubscribe", func(h cmq.Struct_SS_mq_client) int {
		return cmq.Mq_unsubscribe(h, filter)
	}, true)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.removeSub(filter)
	c.mu.Unlock()
	_, err = c.waitToken(ctx, token, ch)
	return err
}

// Disconnect sends what is queued, then DISCONNECT, and waits until the
// connection is closed (or ctx ends). Reconnection stops. Not connected:
// returns nil. The client can Connect again; call Close to free it.
func (c *Client) Disconnect(ctx context.Context) error {
	ch := make(chan error, 1)
	c.mu.Lock()
	c.discWait = append(c.discWait, ch)
	c.mu.Unlock()
	rc, err := c.call("Disconnect", func(h cmq.Struct_SS_mq_client) int {
		return cmq.Mq_disconnect(h, 0)
	})
	if rc == cmq.MQ_ERR_NO_CONN {
		err = nil
	}
	if err != nil || rc < 0 {
		c.mu.Lock()
		for i, w := range c.discWait {
			if w == ch {
				c.discWait = append(c.discWait[:i], c.discWait[i+1:]...)
				break
			}
		}
		c.mu.Unlock()
		return err
	}
	select {
	case err = <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close destroys the client at once (no DISCONNECT: call Disconnect first
// for a graceful close). Pending calls return ErrDestroyed. Safe to call
// more than once.
func (c *Client) Close() error {
	c.life.Lock()
	if c.closed {
		c.life.Unlock()
		return nil
	}
	c.closed = true
	c.life.Unlock()
	close(c.stop)
	<-c.pollDone
	// The handler goroutine is told to stop but not waited for: it never
	// touches the C handle, and Close may be called from a handler.
	c.qmu.Lock()
	c.qstop = true
	c.qcond.Broadcast()
	c.qmu.Unlock()
	cmq.Mq_client_destroy(c.h)
	c.mu.Lock()
	errD := &Error{Op: "Close", Code: cmq.MQ_ERR_DESTROYED}
	for t, ch := range c.waiters {
		ch <- result{err: errD}
		delete(c.waiters, t)
	}
	for _, ch := range c.connWait {
		ch <- errD
	}
	for _, ch := range c.discWait {
		ch <- nil
	}
	c.connWait, c.discWait = nil, nil
	c.mu.Unlock()
	return nil
}

// poll is the goroutine that pulls libmq's events. It is the only caller
// of mq_next_event; it never blocks on the application.
func (c *Client) poll() {
	defer close(c.pollDone)
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		c.life.RLock()
		if c.closed {
			c.life.RUnlock()
			return
		}
		ev := cmq.Mq_next_event(c.h, 100)
		if ev.Swigcptr() == 0 {
			c.life.RUnlock()
			continue
		}
		c.handle(ev)
		cmq.Mq_event_free(ev)
		c.life.RUnlock()
	}
}

func props(p cmq.Struct_SS_mq_props) *Properties {
	if p.Swigcptr() == 0 {
		return nil
	}
	out := &Properties{
		ContentType:     cmq.Mq_props_get_string(p, cmq.MQ_PROP_CONTENT_TYPE),
		ResponseTopic:   cmq.Mq_props_get_string(p, cmq.MQ_PROP_RESPONSE_TOPIC),
		ReasonString:    cmq.Mq_props_get_string(p, cmq.MQ_PROP_REASON_STRING),
		CorrelationData: cmq.Mq_props_get_binary(p, cmq.MQ_PROP_CORRELATION_DATA),
	}
	n := cmq.Mq_props_user_count(p)
	for i := int64(0); i < n; i++ {
		out.User = append(out.User, UserProperty{
			cmq.Mq_props_user_key(p, i), cmq.Mq_props_user_value(p, i)})
	}
	return out
}

func (c *Client) enqueue(f func()) {
	c.qmu.Lock()
	c.queue = append(c.queue, f)
	c.qcond.Signal()
	c.qmu.Unlock()
}

// dispatch is the goroutine that runs handlers and callbacks in order.
func (c *Client) dispatch() {
	for {
		c.qmu.Lock()
		for len(c.queue) == 0 && !c.qstop {
			c.qcond.Wait()
		}
		if c.qstop {
			c.qmu.Unlock()
			return
		}
		f := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.qmu.Unlock()
		f()
	}
}

func (c *Client) deliver(m *Message) {
	c.mu.Lock()
	var hs []MessageHandler
	for _, s := range c.subs {
		if cmq.Mq_topic_matches(s.filter, m.Topic) == 1 {
			if s.handler != nil {
				hs = append(hs, s.handler)
			}
		}
	}
	c.mu.Unlock()
	for _, h := range hs {
		h(c, m)
	}
	if len(hs) == 0 {
		select {
		case c.msgs <- m:
		case <-c.stop:
		}
	}
}

// handle converts one event (on the poll goroutine, with life held).
func (c *Client) handle(ev cmq.Struct_SS_mq_event) {
	kind := cmq.Mq_event_type(ev)
	code := cmq.Mq_event_error(ev)
	reason := cmq.Mq_event_reason(ev)
	token := cmq.Mq_event_token(ev)
	switch kind {
	case cmq.MQ_EVENT_MESSAGE:
		m := &Message{
			Topic:      cmq.Mq_event_topic(ev),
			Payload:    cmq.Mq_event_payload(ev),
			QoS:        cmq.Mq_event_qos(ev),
			Retain:     cmq.Mq_event_retain(ev) != 0,
			Dup:        cmq.Mq_event_dup(ev) != 0,
			PacketID:   cmq.Mq_event_packet_id(ev),
			Properties: props(cmq.Mq_event_props(ev)),
		}
		if m.Payload == nil {
			m.Payload = []byte{}
		}
		c.enqueue(func() { c.deliver(m) })
	case cmq.MQ_EVENT_CONNECT:
		var err error
		if reason != 0 {
			err = &Error{Op: "Connect", Code: cmq.MQ_ERR_REFUSED, Reason: reason}
		}
		info := ConnectInfo{SessionPresent: cmq.Mq_event_session_present(ev) != 0,
			Properties: props(cmq.Mq_event_props(ev))}
		c.mu.Lock()
		c.connected = err == nil
		if err != nil {
			c.lastErr = err
		}
		ws := c.connWait
		c.connWait = nil
		c.mu.Unlock()
		for _, w := range ws {
			w <- err
		}
		if err == nil && c.opts.OnConnect != nil {
			c.enqueue(func() { c.opts.OnConnect(c, info) })
		}
	case cmq.MQ_EVENT_DISCONNECTED:
		var err error
		if code < 0 {
			e := &Error{Op: "connection", Code: code, Reason: reason}
			if msg := cmq.Mq_event_message(ev); msg != "" {
				e.Op = msg
			}
			err = e
		}
		again := cmq.Mq_event_will_reconnect(ev) != 0
		c.mu.Lock()
		was := c.connected
		c.connected = false
		if err != nil {
			c.lastErr = err
		}
		var ws, ds []chan error
		if !again {
			ws, c.connWait = c.connWait, nil
			ds, c.discWait = c.discWait, nil
		}
		c.mu.Unlock()
		for _, w := range ws {
			if err == nil {
				w <- &Error{Op: "Connect", Code: cmq.MQ_ERR_NO_CONN}
			} else {
				w <- err
			}
		}
		for _, d := range ds {
			d <- err
		}
		if (was || !again) && c.opts.OnConnectionLost != nil {
			c.enqueue(func() { c.opts.OnConnectionLost(c, err, again) })
		}
	case cmq.MQ_EVENT_PUBLISHED, cmq.MQ_EVENT_SUBSCRIBED, cmq.MQ_EVENT_UNSUBSCRIBED:
		var res result
		if code < 0 {
			res.err = &Error{Op: opName(kind), Code: code, Reason: reason}
		}
		n := cmq.Mq_event_reason_count(ev)
		for i := int64(0); i < n; i++ {
			res.codes = append(res.codes, cmq.Mq_event_reason_at(ev, i))
		}
		c.mu.Lock()
		ch, ok := c.waiters[token]
		delete(c.waiters, token)
		c.mu.Unlock()
		if ok {
			ch <- res
		}
	}
}

func opName(kind int) string {
	switch kind {
	case cmq.MQ_EVENT_PUBLISHED:
		return "Publish"
	case cmq.MQ_EVENT_SUBSCRIBED:
		return "Subscribe"
	}
	return "Unsubscribe"
}

// TopicMatches reports whether topic name topic matches topic filter.
func TopicMatches(filter, topic string) bool {
	return cmq.Mq_topic_matches(filter, topic) == 1
}

// Version is libmq's run-time version ("0.1.0").
func Version() string { return cmq.Mq_version_string() }
