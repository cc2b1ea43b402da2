package mq

// Tests of what issue 14 added: every error code, MQTT 5 properties both
// ways, TLS, persistence across SIGKILL, bounded event queue, the default
// handler for messages of a persistent session, bad arguments.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/libmq/libmq/bindings/go/internal/cmq"
)

func TestEveryErrorCodeHasASentinel(t *testing.T) {
	have := map[int]*Error{}
	for _, s := range ErrorCodes() {
		have[s.Code] = s
	}
	n := 0
	for code := -1; code > -200; code-- {
		name := cmq.Mq_err_name(code)
		if name == "MQ_ERR_UNKNOWN" {
			continue
		}
		n++
		s, ok := have[code]
		if !ok {
			t.Errorf("no sentinel for %s (%d)", name, code)
			continue
		}
		if s.Name() != name {
			t.Errorf("sentinel for %d is %s, want %s", code, s.Name(), name)
		}
		err := fmt.Errorf("wrapped: %w", &Error{Op: "x", Code: code})
		if !errors.Is(err, s) {
			t.Errorf("errors.Is fails for %s", name)
		}
	}
	if n != len(have) {
		t.Errorf("%d codes in libmq, %d sentinels", n, len(have))
	}
}

func TestBadArgumentsMore(t *testing.T) {
	ctx := context.Background()
	bad := []struct {
		name string
		opts Options
		want error
	}{
		{"keepalive", Options{KeepAlive: -time.Second}, ErrInval},
		{"inflight", Options{MaxInflight: -1}, ErrInval},
		{"will qos", Options{Will: &Will{Topic: "a", QoS: 3}}, ErrQoS},
		{"will topic", Options{Will: &Will{Topic: "a/#"}}, ErrTopic},
		{"nul in id", Options{ClientID: "a\x00b"}, ErrUTF8},
		{"uri", Options{Servers: "bogus://x"}, ErrURI},
		{"v5 props on v3", Options{ConnectProperties: &Properties{User: []UserProperty{{"a", "b"}}}}, ErrNotSupported},
		{"will props not allowed", Options{Protocol: ProtocolV5, Will: &Will{Topic: "a",
			Properties: &Properties{TopicAlias: Ptr[uint16](1)}}}, ErrProperty},
		{"persist without id", Options{PersistDir: t.TempDir()}, ErrInval},
		{"tls min version", Options{TLS: TLS{MinVersion: "sslv2"}}, ErrInval},
		{"event buffer", Options{EventBuffer: -1}, ErrInval},
	}
	for _, b := range bad {
		c, err := NewClient(b.opts)
		if err == nil {
			c.Close()
			t.Errorf("%s: accepted", b.name)
			continue
		}
		var me *Error
		if !errors.As(err, &me) || !errors.Is(err, b.want) {
			t.Errorf("%s: got %v, want %v", b.name, err, b.want)
		}
	}

	c, err := NewClient(Options{ClientID: uniqueID("bad"), Protocol: ProtocolV5})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Publish(ctx, "a\x00b", nil, 0, false); !errors.Is(err, ErrUTF8) {
		t.Errorf("NUL in topic: %v", err)
	}
	if err := c.PublishMessage(ctx, &Message{Topic: "a", Properties: &Properties{
		ServerKeepAlive: Ptr[uint16](5)}}); !errors.Is(err, ErrProperty) {
		t.Errorf("CONNACK property in PUBLISH: %v", err)
	}
	if err := c.PublishMessage(ctx, nil); !errors.Is(err, ErrInval) {
		t.Errorf("nil message: %v", err)
	}
	if _, err := c.SubscribeMany(ctx, nil, nil); !errors.Is(err, ErrInval) {
		t.Errorf("no filters: %v", err)
	}
	if _, err := c.SubscribeMany(ctx, []Subscription{{Filter: "a", RetainHandling: 3}}, nil); err == nil {
		t.Errorf("retain handling 3 accepted")
	}
	if err := c.Handle("a/#/b", func(*Client, *Message) {}); !errors.Is(err, ErrTopic) {
		t.Errorf("Handle bad filter: %v", err)
	}
	if err := c.Auth(300, nil); !errors.Is(err, ErrInval) {
		t.Errorf("Auth reason 300: %v", err)
	}
	v3, _ := NewClient(Options{ClientID: uniqueID("v3")})
	defer v3.Close()
	if err := v3.PublishMessage(ctx, &Message{Topic: "a", Properties: &Properties{
		ContentType: "x"}}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("v5 property on a v3 client: %v", err)
	}
}

func TestPropertiesRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var connProps *Properties
	sub := connected(t, Options{Protocol: ProtocolV5,
		ConnectProperties: &Properties{User: []UserProperty{{"app", "test"}},
			RequestProblemInfo: Ptr[byte](1)},
		OnConnect: func(_ *Client, info ConnectInfo) { connProps = info.Properties }})
	pub := connected(t, Options{Protocol: ProtocolV5})
	topic := "go/props/" + uniqueID("t")
	got := make(chan *Message, 4)
	codes, err := sub.SubscribeMany(ctx, []Subscription{
		{Filter: topic, QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 1,
			Handler: func(_ *Client, m *Message) { got <- m }},
		{Filter: topic + "/x", QoS: 2},
	}, &Properties{SubscriptionIdentifier: []uint32{42}, User: []UserProperty{{"s", "1"}}})
	if err != nil {
		t.Fatalf("SubscribeMany: %v", err)
	}
	if len(codes) != 2 || codes[0] != 1 || codes[1] != 2 {
		t.Fatalf("granted %v", codes)
	}
	sent := &Properties{
		PayloadFormat:   Ptr[byte](1),
		MessageExpiry:   Ptr[uint32](300),
		ContentType:     "text/plain",
		ResponseTopic:   "go/reply",
		CorrelationData: []byte{0, 1, 2, 0xff},
		User:            []UserProperty{{"k", "v1"}, {"k", "v2"}, {"ü", ""}},
	}
	if err := pub.PublishMessage(ctx, &Message{Topic: topic, Payload: []byte("hi"), QoS: 1,
		Properties: sent}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		p := m.Properties
		if p == nil {
			t.Fatal("no properties received")
		}
		if *p.PayloadFormat != 1 || p.ContentType != "text/plain" || p.ResponseTopic != "go/reply" ||
			!bytes.Equal(p.CorrelationData, sent.CorrelationData) || p.MessageExpiry == nil ||
			*p.MessageExpiry > 300 || fmt.Sprint(p.User) != fmt.Sprint(sent.User) ||
			fmt.Sprint(p.SubscriptionIdentifier) != "[42]" {
			t.Fatalf("received %+v", p)
		}
	case <-ctx.Done():
		t.Fatal("no message")
	}
	if connProps == nil || connProps.ReceiveMaximum == nil || connProps.TopicAliasMaximum == nil {
		t.Errorf("CONNACK properties: %+v", connProps)
	}
	ucodes, err := sub.UnsubscribeMany(ctx, []string{topic, "never/subscribed"},
		&Properties{User: []UserProperty{{"why", "done"}}})
	if err != nil || len(ucodes) != 2 || ucodes[0] != 0 || ucodes[1] != 0x11 {
		t.Fatalf("UnsubscribeMany: %v %v", ucodes, err)
	}
	if err := sub.DisconnectWith(ctx, 0, &Properties{SessionExpiry: Ptr[uint32](0),
		ReasonString: "bye"}); err != nil {
		t.Fatalf("DisconnectWith: %v", err)
	}
}

func TestTLS(t *testing.T) {
	good, wrong, ca := os.Getenv("MQ_TEST_TLS_URI"), os.Getenv("MQ_TEST_TLS_WRONG_URI"), os.Getenv("MQ_TEST_CA")
	if good == "" || ca == "" {
		t.Skip("no TLS broker (MQ_TEST_TLS_URI)")
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	try := func(opts Options) error {
		opts.ClientID = uniqueID("tls")
		opts.ReconnectMin = 50 * time.Millisecond
		c, err := NewClient(opts)
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Connect(ctx); err != nil {
			return err
		}
		if err := c.Publish(ctx, "go/tls", []byte("x"), 1, false); err != nil {
			return err
		}
		return c.Disconnect(ctx)
	}
	if err := try(Options{Servers: good, TLS: TLS{CAFile: ca}}); err != nil {
		t.Errorf("CA file: %v", err)
	}
	if err := try(Options{Servers: good, TLS: TLS{CAPEM: string(pem), MinVersion: "tlsv1.2"}}); err != nil {
		t.Errorf("CA PEM: %v", err)
	}
	// The wrong host name is refused at once, with reconnect still on.
	start := time.Now()
	err = try(Options{Servers: wrong, TLS: TLS{CAFile: ca}})
	if !errors.Is(err, ErrTLS) || time.Since(start) > 5*time.Second {
		t.Errorf("wrong host name: %v after %v", err, time.Since(start))
	}
	if err := try(Options{Servers: wrong, TLS: TLS{CAFile: ca, ServerName: "wrong.example.invalid"}}); err != nil {
		t.Errorf("ServerName: %v", err)
	}
	if err := try(Options{Servers: wrong, TLS: TLS{CAFile: ca, NoHostnameCheck: true}}); err != nil {
		t.Errorf("NoHostnameCheck: %v", err)
	}
	if err := try(Options{Servers: good, TLS: TLS{CAFile: os.Getenv("MQ_TEST_CERTS") + "/other-ca.crt"}}); !errors.Is(err, ErrTLS) {
		t.Errorf("wrong CA: %v", err)
	}
}

// The child side of TestPersistenceAcrossSIGKILL: store messages for a
// broker that cannot be reached, say so, and wait to be killed.
func TestPersistChild(t *testing.T) {
	dir := os.Getenv("MQ_GO_PERSIST_CHILD")
	if dir == "" {
		t.Skip("helper process")
	}
	c, err := NewClient(Options{ClientID: os.Getenv("MQ_GO_PERSIST_ID"), PersistDir: dir,
		Servers: "mqtt://127.0.0.1:1", NoCleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := c.PublishAsync(&Message{Topic: os.Getenv("MQ_GO_PERSIST_TOPIC"),
			Payload: []byte(fmt.Sprintf("m%d", i)), QoS: 1, Tag: uint64(100 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("STORED")
	time.Sleep(time.Minute)
}

func TestPersistenceAcrossSIGKILL(t *testing.T) {
	uri := brokerURI(t)
	dir, id, topic := t.TempDir(), uniqueID("persist"), "go/persist/"+uniqueID("t")
	cmd := exec.Command(os.Args[0], "-test.run=^TestPersistChild$", "-test.v")
	cmd.Env = append(os.Environ(), "MQ_GO_PERSIST_CHILD="+dir, "MQ_GO_PERSIST_ID="+id,
		"MQ_GO_PERSIST_TOPIC="+topic)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	stored := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "STORED") {
			stored = true
			break
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if !stored {
		t.Fatal("child did not store its messages")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sub := connected(t, Options{})
	got := make(chan string, 10)
	if err := sub.Subscribe(ctx, topic, 1, func(_ *Client, m *Message) { got <- string(m.Payload) }); err != nil {
		t.Fatal(err)
	}
	recovered := make(chan string, 10)
	again, err := NewClient(Options{ClientID: id, PersistDir: dir, Servers: uri, NoCleanStart: true,
		OnRecovered: func(_ *Client, m *Message) { recovered <- fmt.Sprintf("%s/%d", m.Payload, m.Tag) }})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := again.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		select {
		case p := <-got:
			if p != fmt.Sprintf("m%d", i) {
				t.Fatalf("message %d: %q", i, p)
			}
		case <-ctx.Done():
			t.Fatalf("only %d of 5 stored messages arrived after the restart", i)
		}
	}
	for i := 0; i < 5; i++ { // and the application learnt which they were
		if r := <-recovered; r != fmt.Sprintf("m%d/%d", i, 100+i) {
			t.Fatalf("recovered %d: %s", i, r)
		}
	}
}

func TestBackPressureBoundsMemory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	release := make(chan struct{})
	var n int32
	sub := connected(t, Options{EventBuffer: 8, MaxEvents: 16})
	topic := "go/bp/" + uniqueID("t")
	if err := sub.Subscribe(ctx, topic, 1, func(*Client, *Message) {
		<-release
		atomic.AddInt32(&n, 1)
	}); err != nil {
		t.Fatal(err)
	}
	pub := connected(t, Options{})
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	payload := bytes.Repeat([]byte{7}, 64*1024)
	const count = 300 // 19 MiB for a handler that does not run
	for i := 0; i < count; i++ {
		if err := pub.Publish(ctx, topic, payload, 1, false); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&after)
	sub.qmu.Lock()
	qmax := sub.qmax
	sub.qmu.Unlock()
	grew := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("queue max %d, Go heap grew %d KiB for %d KiB published", qmax, grew/1024, count*64)
	if qmax > 8 {
		t.Errorf("Go event queue reached %d entries (bound 8)", qmax)
	}
	if grew > 8<<20 {
		t.Errorf("Go heap grew by %d bytes while the handler was blocked", grew)
	}
	close(release)
	for atomic.LoadInt32(&n) < count {
		select {
		case <-ctx.Done():
			t.Fatalf("only %d of %d messages after release", atomic.LoadInt32(&n), count)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Messages of a persistent session arrive right after the CONNACK, before
// any Subscribe: with Options.DefaultHandler none goes to Messages().
func TestDefaultHandlerGetsSessionMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	id, topic := uniqueID("sess"), "go/sess/"+uniqueID("t")
	first := connected(t, Options{ClientID: id, NoCleanStart: true})
	if err := first.Subscribe(ctx, topic, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := first.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	first.Close()
	pub := connected(t, Options{})
	for i := 0; i < 5; i++ {
		if err := pub.Publish(ctx, topic, []byte{byte(i)}, 1, false); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan byte, 5)
	again := connected(t, Options{ClientID: id, NoCleanStart: true,
		DefaultHandler: func(_ *Client, m *Message) { got <- m.Payload[0] }})
	for i := 0; i < 5; i++ {
		select {
		case b := <-got:
			if int(b) != i {
				t.Fatalf("message %d is %d", i, b)
			}
		case m := <-again.Messages():
			t.Fatalf("session message went to Messages(): %v", m.Payload)
		case <-ctx.Done():
			t.Fatalf("%d of 5 session messages", i)
		}
	}
}

func TestPublishAsyncAndQueueDepth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := NewClient(Options{ClientID: uniqueID("q"), Servers: brokerURI(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var toks []*Token
	for i := 0; i < 10; i++ { // queued while not connected
		tok, err := c.PublishAsync(&Message{Topic: "go/q", Payload: []byte("x"), QoS: 1})
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	if q := c.QueuedMessages(); q != 10 {
		t.Fatalf("queue depth %d, want 10", q)
	}
	if err := c.SetQueueLimits(10, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PublishAsync(&Message{Topic: "go/q", QoS: 1}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("11th message: %v", err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if err := tok.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if q := c.QueuedMessages(); q != 0 {
		t.Fatalf("queue depth %d after the acks", q)
	}
}

func TestLogEvents(t *testing.T) {
	lines := make(chan string, 100)
	c := connected(t, Options{LogLevel: LogDebug, OnLog: func(_ *Client, level int, msg string) {
		select {
		case lines <- msg:
		default:
		}
	}})
	_ = c
	select {
	case <-lines:
	case <-time.After(5 * time.Second):
		t.Fatal("no log line at debug level")
	}
}

func TestDisconnectNowAborts(t *testing.T) {
	c, err := NewClient(Options{ClientID: uniqueID("now"), Servers: "mqtt://127.0.0.1:1",
		ReconnectMin: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go c.Connect(ctx) // keeps retrying: nothing listens
	time.Sleep(100 * time.Millisecond)
	tok, err := c.PublishAsync(&Message{Topic: "a/b", Payload: []byte("x"), QoS: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DisconnectNow(ctx); err != nil {
		t.Fatalf("DisconnectNow: %v", err)
	}
	if err := tok.Wait(ctx); !errors.Is(err, ErrAborted) {
		t.Fatalf("publish after DisconnectNow: %v", err)
	}
}

func TestResubscribeIsVisible(t *testing.T) {
	if os.Getenv("MQ_TEST_BROKER") == "" {
		t.Skip("MQ_TEST_BROKER not set")
	}
	brokerMu.Lock()
	defer brokerMu.Unlock()
	topic := "go/resub/" + uniqueID("t")
	got := make(chan string, 4)
	c := connected(t, Options{ReconnectMin: 100 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		OnResubscribe: func(_ *Client, filter string, code int, _ *Properties) {
			got <- fmt.Sprintf("%s %d", filter, code)
		}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Subscribe(ctx, topic, 1, nil); err != nil {
		t.Fatal(err)
	}
	broker(t, "stop")
	broker(t, "start")
	select {
	case s := <-got:
		if s != topic+" 1" {
			t.Fatalf("OnResubscribe: %s", s)
		}
	case <-ctx.Done():
		t.Fatal("no OnResubscribe after the broker lost the session")
	}
}
