// Package mq is an MQTT 3.1.1/5.0 client for Go over libmq (a C library;
// the SWIG layer is in internal/cmq).
//
// Threading: libmq does its network work on its own thread and never calls
// into Go. Each Client runs one goroutine that pulls events from libmq
// (mq_next_event) and one that runs handlers, so handlers and the On*
// callbacks are called from a single goroutine of the client, in the order
// the events happened. The two are joined by a bounded queue
// (Options.EventBuffer): when handlers fall behind, the pulling goroutine
// waits, libmq's own bound (Options.MaxEvents) fills, and libmq stops
// reading the socket, so a slow consumer holds the broker back instead of
// growing memory. A handler may call Publish (even with QoS > 0 and a
// wait): acknowledgements are taken by the pulling goroutine, which may
// hold up to EventBuffer more events while a handler waits.
package mq

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/libmq/libmq/bindings/go/internal/cmq"
)

// Message is a received PUBLISH, or one to send with PublishMessage.
type Message struct {
	Topic      string
	Payload    []byte
	QoS        int
	Retain     bool
	Dup        bool
	PacketID   int
	Properties *Properties // nil for MQTT 3.1.1 or when there were none
	// Tag is an application value stored with a message published with
	// PublishAsync/PublishMessage (with PersistDir it survives a crash and
	// comes back in Options.OnRecovered); 0: none.
	Tag uint64
}

// MessageHandler handles messages of a subscription.
type MessageHandler func(c *Client, m *Message)

// ConnectInfo describes a successful connection (CONNACK).
type ConnectInfo struct {
	SessionPresent bool
	Properties     *Properties
	// TLS is what the handshake negotiated (mqtts://, wss://); nil
	// without TLS.
	TLS *TLSInfo
}

// TLSInfo is what the TLS handshake of a connection negotiated, named
// after crypto/tls's ConnectionState.
type TLSInfo struct {
	Version            string // "TLSv1.2", "TLSv1.3"
	CipherSuite        string // OpenSSL's name, e.g. "TLS_AES_256_GCM_SHA384"
	NegotiatedProtocol string // ALPN; "" when none
	DidResume          bool   // the session of an earlier connection was resumed
}

func tlsInfo(ev cmq.Struct_SS_mq_event) *TLSInfo {
	// NULL (no TLS) comes back as ""
	v := cmq.Mq_event_tls(ev, cmq.MQ_TLS_VERSION)
	if v == "" {
		return nil
	}
	return &TLSInfo{
		Version:            v,
		CipherSuite:        cmq.Mq_event_tls(ev, cmq.MQ_TLS_CIPHER),
		NegotiatedProtocol: cmq.Mq_event_tls(ev, cmq.MQ_TLS_ALPN),
		DidResume:          cmq.Mq_event_tls(ev, cmq.MQ_TLS_RESUMED) == "1",
	}
}

// Subscription is one topic filter of SubscribeMany with its MQTT 5
// subscription options and the handler for its messages (nil: the
// DefaultHandler, else Messages()).
type Subscription struct {
	Filter            string
	QoS               int
	NoLocal           bool // MQTT 5: not our own messages
	RetainAsPublished bool // MQTT 5: keep the retain flag as published
	RetainHandling    int  // MQTT 5: 0 send retained, 1 only if new, 2 never
	Handler           MessageHandler
}

func (s *Subscription) options() int {
	o := s.QoS&cmq.MQ_SUB_QOS_MASK | s.RetainHandling<<cmq.MQ_SUB_RETAIN_HANDLING_SHIFT
	if s.NoLocal {
		o |= cmq.MQ_SUB_NO_LOCAL
	}
	if s.RetainAsPublished {
		o |= cmq.MQ_SUB_RETAIN_AS_PUBLISHED
	}
	return o
}

type result struct {
	err   error
	codes []int
}

type route struct {
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
	routes    []route

	msgs chan *Message

	// The bounded queue between the pulling and the handler goroutine.
	qmu       sync.Mutex
	qcond     *sync.Cond
	queue     []func()
	qlimit    int
	qstop     bool
	inHandler bool  // a user handler or callback is running
	qmax      int   // longest the queue has been (tests)
	waiting   int32 // goroutines waiting for an acknowledgement (atomic)

	// Received QoS 1/2 messages whose C event is kept until their handler
	// returned: libmq acknowledges (PUBACK/PUBREC) when the event is freed.
	// Bounded by the queue above. Close frees what is left after
	// destroying the client, so those are not acknowledged.
	heldMu   sync.Mutex
	held     map[uintptr]cmq.Struct_SS_mq_event
	heldGone bool

	stop     chan struct{}
	pollDone chan struct{}
	opts     Options
}

// NewClient creates a client; nothing touches the network until Connect.
// Bad options give an *Error naming the field.
func NewClient(opts Options) (*Client, error) {
	proto := opts.Protocol
	if proto == 0 {
		proto = ProtocolV311
	}
	if strings.IndexByte(opts.ClientID, 0) >= 0 {
		return nil, &Error{Op: "NewClient (ClientID)", Code: cmq.MQ_ERR_UTF8}
	}
	h := cmq.Mq_client_new(opts.ClientID, proto)
	if h.Swigcptr() == 0 {
		return nil, &Error{Op: "NewClient (bad ClientID or Protocol)", Code: cmq.MQ_ERR_INVAL}
	}
	if err := opts.apply(h); err != nil {
		cmq.Mq_client_destroy(h)
		return nil, err
	}
	buf := opts.MessageBuffer
	if buf <= 0 {
		buf = 256
	}
	qlimit := opts.EventBuffer
	if qlimit <= 0 {
		qlimit = 256
	}
	c := &Client{
		h:        h,
		waiters:  make(map[int]chan result),
		held:     make(map[uintptr]cmq.Struct_SS_mq_event),
		msgs:     make(chan *Message, buf),
		qlimit:   qlimit,
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

// Messages delivers the messages that no handler took (no subscription
// handler matched and there is no Options.DefaultHandler). Drain it if you
// use it: while it is full, handlers wait too, and then libmq stops
// reading from the broker. A QoS 1/2 message is acknowledged when it goes
// into the channel (its buffer, Options.MessageBuffer, is the
// application's: a process that dies with messages there loses them);
// with a handler it is acknowledged after the handler returned.
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

// QueuedMessages is the number of messages accepted by Publish but not
// completed yet (the outbound queue depth).
func (c *Client) QueuedMessages() int {
	rc, err := c.call("QueuedMessages", func(h cmq.Struct_SS_mq_client) int {
		return int(cmq.Mq_queued_messages(h))
	})
	if err != nil {
		return 0
	}
	return rc
}

// ProtocolInUse is the MQTT version of the last accepted connection
// (ProtocolV311 or ProtocolV5; 0 before the first): with
// Options.ProtocolFallback an MQTT 5 client may be on 3.1.1.
func (c *Client) ProtocolInUse() int {
	rc, err := c.call("ProtocolInUse", func(h cmq.Struct_SS_mq_client) int {
		return int(cmq.Mq_get_int_value(h, cmq.MQ_OPT_PROTOCOL_IN_USE, 0))
	})
	if err != nil {
		return 0
	}
	return rc
}

// SetServers replaces the server list (see Options.Servers).
func (c *Client) SetServers(uris string) error {
	if strings.IndexByte(uris, 0) >= 0 {
		return &Error{Op: "SetServers", Code: cmq.MQ_ERR_URI}
	}
	_, err := c.call("SetServers", func(h cmq.Struct_SS_mq_client) int {
		return cmq.Mq_set_server(h, uris)
	})
	return err
}

// SetQueueLimits changes the outbound queue bounds at any time (0 leaves
// a bound as it is).
func (c *Client) SetQueueLimits(maxMessages int, maxBytes int64) error {
	_, err := c.call("SetQueueLimits", func(h cmq.Struct_SS_mq_client) int {
		if maxMessages != 0 {
			if rc := cmq.Mq_set_int(h, cmq.MQ_OPT_QUEUE_MAX_MSGS, int64(maxMessages)); rc < 0 {
				return rc
			}
		}
		if maxBytes != 0 {
			return cmq.Mq_set_int(h, cmq.MQ_OPT_QUEUE_MAX_BYTES, maxBytes)
		}
		return 0
	})
	return err
}

// Connect connects and waits for the broker's CONNACK. While the broker
// cannot be reached libmq keeps retrying (unless NoReconnect), so Connect
// returns when connected, when the broker refuses (an *Error with Code
// MQ_ERR_REFUSED and the reason code), when TLS fails (ErrTLS), when the
// proxy refuses (ErrProxy, ErrProxyAuth), or when ctx ends; it then stops the retries and returns ctx's error wrapped with
// the last connection error. After a successful Connect libmq reconnects
// by itself on loss.
func (c *Client) Connect(ctx context.Context) error {
	ch := make(chan error, 1)
	c.mu.Lock()
	c.connWait = append(c.connWait, ch)
	c.lastErr = nil
	c.mu.Unlock()
	if _, err := c.call("Connect", func(h cmq.Struct_SS_mq_client) int {
		return cmq.Mq_connect(h)
	}); err != nil {
		c.dropWaiter(&c.connWait, ch)
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		c.dropWaiter(&c.connWait, ch)
		c.call("Connect", func(h cmq.Struct_SS_mq_client) int {
			return cmq.Mq_disconnect_now(h, 0) // stop retrying, deliver nothing
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

func (c *Client) dropWaiter(list *[]chan error, ch chan error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, w := range *list {
		if w == ch {
			*list = append((*list)[:i], (*list)[i+1:]...)
			return
		}
	}
}

// waitToken waits for the event of token (registered by the caller).
func (c *Client) waitToken(ctx context.Context, token int, ch chan result) (result, error) {
	atomic.AddInt32(&c.waiting, 1)
	c.qmu.Lock()
	c.qcond.Broadcast() // a handler may be the one waiting: see limit()
	c.qmu.Unlock()
	defer atomic.AddInt32(&c.waiting, -1)
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
	return c.PublishMessage(ctx, &Message{Topic: topic, Payload: payload, QoS: qos, Retain: retain})
}

// PublishMessage publishes m (Topic, Payload, QoS, Retain and, MQTT 5,
// Properties) like Publish.
func (c *Client) PublishMessage(ctx context.Context, m *Message) error {
	t, err := c.PublishAsync(m)
	if err != nil {
		return err
	}
	return t.Wait(ctx)
}

// PublishAsync queues m and returns at once (with persistence on: once
// the message is stored). The Token's Wait reports the outcome; nobody has
// to wait for it.
func (c *Client) PublishAsync(m *Message) (*Token, error) {
	if m == nil {
		return nil, &Error{Op: "Publish", Code: cmq.MQ_ERR_INVAL}
	}
	if strings.IndexByte(m.Topic, 0) >= 0 {
		return nil, &Error{Op: "Publish", Code: cmq.MQ_ERR_UTF8}
	}
	props, err := cProps("Publish", m.Properties)
	if err != nil {
		return nil, err
	}
	token, ch, err := c.start("Publish", func(h cmq.Struct_SS_mq_client) int {
		if m.Tag != 0 {
			return cmq.Mq_publish_tagged(h, m.Topic, m.Payload, m.QoS, b2i(m.Retain), props, m.Tag)
		}
		if props.Swigcptr() == 0 {
			return cmq.Mq_publish(h, m.Topic, m.Payload, m.QoS, b2i(m.Retain))
		}
		return cmq.Mq_publish_v5(h, m.Topic, m.Payload, m.QoS, b2i(m.Retain), props)
	}, m.QoS > 0)
	freeProps(props)
	if err != nil {
		return nil, err
	}
	return &Token{c: c, id: token, ch: ch}, nil
}

// Token is a publish in progress (PublishAsync).
type Token struct {
	c    *Client
	id   int
	ch   chan result // nil for QoS 0: complete once queued
	mu   sync.Mutex
	done bool
	err  error
}

// ID is libmq's token of the publish.
func (t *Token) ID() int { return t.id }

// Wait waits for the outcome: nil once the broker acknowledged the message
// (QoS 0: once queued), an *Error if it refused it (ErrRefused with the
// reason code) or it was abandoned (ErrAborted, ErrDestroyed), or ctx's
// error (the message stays queued). It may be called again.
func (t *Token) Wait(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done || t.ch == nil {
		return t.err
	}
	_, err := t.c.waitToken(ctx, t.id, t.ch)
	if ctx.Err() != nil && err == ctx.Err() {
		// keep waiting possible: register again
		t.c.mu.Lock()
		select {
		case r := <-t.ch:
			t.done, t.err = true, r.err
			t.c.mu.Unlock()
			return r.err
		default:
		}
		t.c.waiters[t.id] = t.ch
		t.c.mu.Unlock()
		return err
	}
	t.done, t.err = true, err
	return err
}

// Subscribe subscribes to filter and waits for the SUBACK. Messages that
// match filter go to handler (called on the client's handler goroutine),
// or, when handler is nil, to the DefaultHandler or Messages(). It returns
// the broker's refusal as an *Error (ErrRefused) with the reason code.
func (c *Client) Subscribe(ctx context.Context, filter string, qos int, handler MessageHandler) error {
	_, err := c.SubscribeMany(ctx, []Subscription{{Filter: filter, QoS: qos, Handler: handler}}, nil)
	return err
}

// SubscribeMany subscribes to several filters in one SUBSCRIBE (with MQTT 5
// subscription options and properties such as SubscriptionIdentifier) and
// waits for the SUBACK. It returns the granted QoS (or failure reason code,
// >= 0x80) of each filter, and ErrRefused with the first failure's code if
// any was refused.
func (c *Client) SubscribeMany(ctx context.Context, subs []Subscription, props *Properties) ([]int, error) {
	if len(subs) == 0 {
		return nil, &Error{Op: "Subscribe", Code: cmq.MQ_ERR_INVAL}
	}
	for i := range subs {
		f := subs[i].Filter
		if strings.IndexByte(f, 0) >= 0 {
			return nil, &Error{Op: "Subscribe", Code: cmq.MQ_ERR_UTF8}
		}
		if rc := cmq.Mq_filter_check(f); rc < 0 {
			return nil, mqErr("Subscribe", rc)
		}
	}
	list := cmq.Mq_filter_list_new()
	if list.Swigcptr() == 0 {
		return nil, &Error{Op: "Subscribe", Code: cmq.MQ_ERR_NOMEM}
	}
	defer cmq.Mq_filter_list_free(list)
	for i := range subs {
		if rc := cmq.Mq_filter_list_add(list, subs[i].Filter, subs[i].options()); rc < 0 {
			return nil, mqErr("Subscribe", rc)
		}
	}
	cp, err := cProps("Subscribe", props)
	if err != nil {
		return nil, err
	}
	defer freeProps(cp)
	// Routes first, so no message of the new subscription can miss them.
	c.mu.Lock()
	saved := append([]route(nil), c.routes...)
	for i := range subs {
		c.setRoute(subs[i].Filter, subs[i].Handler)
	}
	c.mu.Unlock()
	token, ch, err := c.start("Subscribe", func(h cmq.Struct_SS_mq_client) int {
		return cmq.Mq_subscribe_many_list(h, list, cp)
	}, true)
	var res result
	if err == nil {
		res, err = c.waitToken(ctx, token, ch)
	}
	if err == nil {
		for i, code := range res.codes {
			if code >= 0x80 {
				err = &Error{Op: "Subscribe " + subs[i].Filter, Code: cmq.MQ_ERR_REFUSED, Reason: code}
				break
			}
		}
	}
	if err != nil {
		c.mu.Lock()
		c.routes = saved
		c.mu.Unlock()
	}
	return res.codes, err
}

// Handle routes messages that match filter to handler without
// subscribing, e.g. for the subscriptions a persistent session kept on the
// broker. Call it before Connect so that no message can miss it. A nil
// handler removes the route.
func (c *Client) Handle(filter string, handler MessageHandler) error {
	if rc := cmq.Mq_filter_check(filter); rc < 0 || strings.IndexByte(filter, 0) >= 0 {
		if rc >= 0 {
			rc = cmq.MQ_ERR_UTF8
		}
		return mqErr("Handle", rc)
	}
	c.mu.Lock()
	c.setRoute(filter, handler)
	c.mu.Unlock()
	return nil
}

func (c *Client) setRoute(filter string, handler MessageHandler) {
	for i, r := range c.routes {
		if r.filter == filter {
			c.routes = append(c.routes[:i], c.routes[i+1:]...)
			break
		}
	}
	if handler != nil {
		c.routes = append(c.routes, route{filter, handler})
	}
}

// Unsubscribe removes the subscription and waits for the UNSUBACK.
func (c *Client) Unsubscribe(ctx context.Context, filter string) error {
	_, err := c.UnsubscribeMany(ctx, []string{filter}, nil)
	return err
}

// UnsubscribeMany unsubscribes from several filters (MQTT 5: with
// properties) and waits for the acknowledgement; it returns the UNSUBACK
// reason codes (MQTT 5) of each filter.
func (c *Client) UnsubscribeMany(ctx context.Context, filters []string, props *Properties) ([]int, error) {
	if len(filters) == 0 {
		return nil, &Error{Op: "Unsubscribe", Code: cmq.MQ_ERR_INVAL}
	}
	for _, f := range filters {
		if strings.IndexByte(f, 0) >= 0 {
			return nil, &Error{Op: "Unsubscribe", Code: cmq.MQ_ERR_UTF8}
		}
	}
	cp, err := cProps("Unsubscribe", props)
	if err != nil {
		return nil, err
	}
	defer freeProps(cp)
	list := cmq.Mq_filter_list_new()
	if list.Swigcptr() == 0 {
		return nil, &Error{Op: "Unsubscribe", Code: cmq.MQ_ERR_NOMEM}
	}
	defer cmq.Mq_filter_list_free(list)
	for _, f := range filters {
		if rc := cmq.Mq_filter_list_add(list, f, 0); rc < 0 {
			return nil, mqErr("Unsubscribe", rc)
		}
	}
	token, ch, err := c.start("Unsubscribe", func(h cmq.Struct_SS_mq_client) int {
		if len(filters) == 1 {
			if cp.Swigcptr() == 0 {
				return cmq.Mq_unsubscribe(h, filters[0])
			}
			return cmq.Mq_unsubscribe_v5(h, filters[0], cp)
		}
		return cmq.Mq_unsubscribe_many_list(h, list, cp) // one UNSUBSCRIBE
	}, true)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	for _, f := range filters {
		c.setRoute(f, nil)
	}
	c.mu.Unlock()
	res, err := c.waitToken(ctx, token, ch)
	return res.codes, err
}

// Auth sends an MQTT 5 AUTH packet (enhanced authentication, e.g. reason
// 0x18 continue or 0x19 re-authenticate) with props (AuthMethod, AuthData).
// The broker's AUTH packets reach Options.OnAuth.
func (c *Client) Auth(reason int, props *Properties) error {
	cp, err := cProps("Auth", props)
	if err != nil {
		return err
	}
	defer freeProps(cp)
	_, err = c.call("Auth", func(h cmq.Struct_SS_mq_client) int {
		return cmq.Mq_auth(h, reason, cp)
	})
	return err
}

// Disconnect sends what is queued, then DISCONNECT, and waits until the
// connection is closed (or ctx ends). Reconnection stops. Not connected:
// returns nil. The client can Connect again; call Close to free it.
func (c *Client) Disconnect(ctx context.Context) error {
	return c.DisconnectWith(ctx, 0, nil)
}

// DisconnectWith is Disconnect with an MQTT 5 reason code (0x04: the
// broker publishes the Will) and DISCONNECT properties (SessionExpiry,
// ReasonString, User).
func (c *Client) DisconnectWith(ctx context.Context, reason int, props *Properties) error {
	cp, err := cProps("Disconnect", props)
	if err != nil {
		return err
	}
	defer freeProps(cp)
	ch := make(chan error, 1)
	c.mu.Lock()
	c.discWait = append(c.discWait, ch)
	c.mu.Unlock()
	rc, err := c.call("Disconnect", func(h cmq.Struct_SS_mq_client) int {
		if cp.Swigcptr() == 0 {
			return cmq.Mq_disconnect(h, reason)
		}
		return cmq.Mq_disconnect_v5(h, reason, cp)
	})
	if rc == cmq.MQ_ERR_NO_CONN {
		err = nil
	}
	if err != nil || rc < 0 {
		c.dropWaiter(&c.discWait, ch)
		return err
	}
	select {
	case err = <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DisconnectNow is the forced disconnect (MQTT.js end(true)): nothing
// more is delivered; what was not is settled at once (kept for the next
// Connect in a persistent session or with PersistDir, else its Publish
// returns ErrAborted). It waits (or until ctx ends) for the connection to
// close. Not connected: returns nil.
func (c *Client) DisconnectNow(ctx context.Context) error {
	ch := make(chan error, 1)
	c.mu.Lock()
	c.discWait = append(c.discWait, ch)
	c.mu.Unlock()
	rc, err := c.call("DisconnectNow", func(h cmq.Struct_SS_mq_client) int {
		return cmq.Mq_disconnect_now(h, 0)
	})
	if rc == cmq.MQ_ERR_NO_CONN {
		err = nil
	}
	if err != nil || rc < 0 {
		c.dropWaiter(&c.discWait, ch)
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
// for a graceful close; the broker then publishes the Will). Pending calls
// return ErrDestroyed; messages still queued for handlers or in Messages()
// are dropped - the QoS 1/2 ones still queued for handlers unacknowledged,
// so a session the broker keeps gets them again. Safe to call more than
// once, and from a handler.
func (c *Client) Close() error {
	c.life.Lock()
	if c.closed {
		c.life.Unlock()
		return nil
	}
	c.closed = true
	c.life.Unlock()
	close(c.stop)
	c.qmu.Lock()
	c.qstop = true
	c.qcond.Broadcast()
	c.qmu.Unlock()
	<-c.pollDone
	// The handler goroutine is told to stop but not waited for: it never
	// touches the C handle, and Close may be called from a handler.
	cmq.Mq_client_destroy(c.h)
	// Messages queued but not handed over: freed only now, with the
	// client gone, so unacknowledged; the broker sends them again to the
	// session's next connection.
	c.heldMu.Lock()
	c.heldGone = true
	for k, ev := range c.held {
		cmq.Mq_event_free(ev)
		delete(c.held, k)
	}
	c.heldMu.Unlock()
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
// of mq_next_event. It settles waiters itself and hands messages and
// callbacks to the handler goroutine through the bounded queue, waiting
// (with the C handle released) while that queue is full.
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
		work, kept := c.handle(ev)
		if !kept {
			cmq.Mq_event_free(ev)
		}
		c.life.RUnlock()
		if work != nil && !c.enqueue(work) {
			return
		}
	}
}

// limit is the queue bound: EventBuffer, doubled while a handler runs and
// some goroutine (perhaps that handler) waits for an acknowledgement that
// only the pulling goroutine can deliver.
func (c *Client) limit() int {
	if c.inHandler && atomic.LoadInt32(&c.waiting) > 0 {
		return 2 * c.qlimit
	}
	return c.qlimit
}

// enqueue adds f to the handler queue, waiting while it is full; false
// once the client is closed.
func (c *Client) enqueue(f func()) bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	for len(c.queue) >= c.limit() && !c.qstop {
		c.qcond.Wait()
	}
	if c.qstop {
		return false
	}
	c.queue = append(c.queue, f)
	if len(c.queue) > c.qmax {
		c.qmax = len(c.queue)
	}
	c.qcond.Broadcast()
	return true
}

// dispatch is the goroutine that runs handlers and callbacks in order.
func (c *Client) dispatch() {
	for {
		c.qmu.Lock()
		for len(c.queue) == 0 && !c.qstop {
			c.qcond.Wait()
		}
		if c.qstop {
			c.queue = nil
			c.qmu.Unlock()
			return
		}
		f := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.qcond.Broadcast()
		c.qmu.Unlock()
		f()
	}
}

// user runs an application callback, marked for limit().
func (c *Client) user(f func()) {
	c.qmu.Lock()
	c.inHandler = true
	c.qmu.Unlock()
	defer func() {
		c.qmu.Lock()
		c.inHandler = false
		c.qmu.Unlock()
	}()
	f()
}

// release frees the kept event of a received QoS 1/2 message once its
// handler returned (handed is true) or the message went into Messages():
// that sends its acknowledgement. A message not handed over because the
// client is closing stays for Close, which frees it unacknowledged.
func (c *Client) release(ev cmq.Struct_SS_mq_event, handed bool) {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	if c.heldGone || !handed {
		return
	}
	delete(c.held, ev.Swigcptr())
	cmq.Mq_event_free(ev)
}

// deliver runs the handlers of m, or puts it into Messages(); false if the
// client closed first.
func (c *Client) deliver(m *Message) bool {
	c.mu.Lock()
	var hs []MessageHandler
	for _, r := range c.routes {
		if cmq.Mq_topic_matches(r.filter, m.Topic) == 1 {
			hs = append(hs, r.handler)
		}
	}
	c.mu.Unlock()
	if len(hs) == 0 && c.opts.DefaultHandler != nil {
		hs = append(hs, c.opts.DefaultHandler)
	}
	if len(hs) > 0 {
		c.user(func() {
			for _, h := range hs {
				h(c, m)
			}
		})
		return true
	}
	select {
	case c.msgs <- m:
		return true
	case <-c.stop:
		return false
	}
}

// handle converts one event (on the poll goroutine, with life held) and
// returns the work for the handler goroutine, if any, and whether that
// work keeps the event (a QoS 1/2 message: freed by release once its
// handler returned, so acknowledged after it); else the caller frees it.
func (c *Client) handle(ev cmq.Struct_SS_mq_event) (func(), bool) {
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
			Properties: goProps(cmq.Mq_event_props(ev)),
		}
		if m.Payload == nil {
			m.Payload = []byte{}
		}
		if m.QoS > 0 {
			c.heldMu.Lock()
			c.held[ev.Swigcptr()] = ev
			c.heldMu.Unlock()
			return func() { c.release(ev, c.deliver(m)) }, true
		}
		return func() { c.deliver(m) }, false
	case cmq.MQ_EVENT_CONNECT:
		var err error
		props := goProps(cmq.Mq_event_props(ev))
		if reason != 0 {
			err = &Error{Op: "Connect", Code: cmq.MQ_ERR_REFUSED, Reason: reason, Properties: props}
		}
		info := ConnectInfo{SessionPresent: cmq.Mq_event_session_present(ev) != 0,
			Properties: props, TLS: tlsInfo(ev)}
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
			return func() { c.user(func() { c.opts.OnConnect(c, info) }) }, false
		}
	case cmq.MQ_EVENT_DISCONNECTED:
		var err error
		if code < 0 {
			e := &Error{Op: "connection", Code: code, Reason: reason,
				Properties: goProps(cmq.Mq_event_props(ev))}
			if msg := cmq.Mq_event_message(ev); msg != "" {
				e.Op = msg
			}
			err = e
		}
		again := cmq.Mq_event_will_reconnect(ev) != 0
		c.mu.Lock()
		c.connected = false
		if err != nil {
			c.lastErr = err
		}
		var ws, ds []chan error
		if !again {
			ds, c.discWait = c.discWait, nil
		}
		// A connection waiter gets the first failure that is not worth
		// retrying; plain "cannot reach the broker" is retried until ctx.
		if !again || (err != nil && fatal(code)) {
			ws, c.connWait = c.connWait, nil
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
		if c.opts.OnConnectionLost != nil {
			return func() { c.user(func() { c.opts.OnConnectionLost(c, err, again) }) }, false
		}
	case cmq.MQ_EVENT_PUBLISHED, cmq.MQ_EVENT_SUBSCRIBED, cmq.MQ_EVENT_UNSUBSCRIBED:
		var res result
		if code < 0 {
			res.err = &Error{Op: opName(kind), Code: code, Reason: reason,
				Properties: goProps(cmq.Mq_event_props(ev))}
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
	case cmq.MQ_EVENT_LOG:
		level, msg := cmq.Mq_event_log_level(ev), cmq.Mq_event_message(ev)
		if c.opts.OnLog != nil {
			return func() { c.user(func() { c.opts.OnLog(c, level, msg) }) }, false
		}
	case cmq.MQ_EVENT_RECOVERED:
		m := &Message{
			Topic:      cmq.Mq_event_topic(ev),
			Payload:    cmq.Mq_event_payload(ev),
			QoS:        cmq.Mq_event_qos(ev),
			Retain:     cmq.Mq_event_retain(ev) != 0,
			PacketID:   token,
			Properties: goProps(cmq.Mq_event_props(ev)),
			Tag:        cmq.Mq_event_tag(ev),
		}
		if c.opts.OnRecovered != nil {
			return func() { c.user(func() { c.opts.OnRecovered(c, m) }) }, false
		}
	case cmq.MQ_EVENT_RESUBSCRIBED:
		filter, props := cmq.Mq_event_topic(ev), goProps(cmq.Mq_event_props(ev))
		if c.opts.OnResubscribe != nil {
			return func() { c.user(func() { c.opts.OnResubscribe(c, filter, reason, props) }) }, false
		}
	case cmq.MQ_EVENT_AUTH:
		props := goProps(cmq.Mq_event_props(ev))
		if c.opts.OnAuth != nil {
			return func() { c.user(func() { c.opts.OnAuth(c, reason, props) }) }, false
		}
	}
	return nil, false
}

// fatal: connection errors that retrying will not fix; Connect returns
// them at once even while libmq keeps retrying.
func fatal(code int) bool {
	switch code {
	case cmq.MQ_ERR_TLS, cmq.MQ_ERR_REFUSED, cmq.MQ_ERR_PROTOCOL,
		cmq.MQ_ERR_MALFORMED, cmq.MQ_ERR_NOT_SUPPORTED,
		cmq.MQ_ERR_PROXY, cmq.MQ_ERR_PROXY_AUTH:
		return true
	}
	return false
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

// VersionNum is libmq's run-time version as 0xMMmmpp.
func VersionNum() int { return cmq.Mq_version() }

// SetWorkerThreads sets how many libmq worker threads serve the clients of
// this process (1..64, default 1); clients created later join the least
// loaded one.
func SetWorkerThreads(n int) error {
	return mqErr("SetWorkerThreads", cmq.Mq_set_worker_threads(n))
}

// CheckTopic returns nil if topic is a valid topic name to publish to,
// else ErrTopic or ErrUTF8.
func CheckTopic(topic string) error {
	if strings.IndexByte(topic, 0) >= 0 {
		return &Error{Op: "CheckTopic", Code: cmq.MQ_ERR_UTF8}
	}
	return mqErr("CheckTopic", cmq.Mq_topic_check(topic))
}

// CheckFilter returns nil if filter is a valid topic filter.
func CheckFilter(filter string) error {
	if strings.IndexByte(filter, 0) >= 0 {
		return &Error{Op: "CheckFilter", Code: cmq.MQ_ERR_UTF8}
	}
	return mqErr("CheckFilter", cmq.Mq_filter_check(filter))
}
