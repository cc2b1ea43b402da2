package mq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The tests need the broker started by bindings/tests/with-broker.sh
// (MQ_TEST_URI); without it they are skipped.

func brokerURI(t *testing.T) string {
	uri := os.Getenv("MQ_TEST_URI")
	if uri == "" {
		t.Skip("MQ_TEST_URI not set (run under bindings/tests/with-broker.sh)")
	}
	return uri
}

var idSeq int64

func uniqueID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), atomic.AddInt64(&idSeq, 1))
}

func connected(t *testing.T, opts Options) *Client {
	t.Helper()
	opts.Servers = brokerURI(t)
	if opts.ClientID == "" {
		opts.ClientID = uniqueID("go")
	}
	c, err := NewClient(opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		c.Close()
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestVersionAndMatch(t *testing.T) {
	if Version() == "" {
		t.Fatal("empty version")
	}
	if !TopicMatches("a/+/c", "a/b/c") || TopicMatches("a/#", "b") {
		t.Fatal("TopicMatches")
	}
}

func TestBadArguments(t *testing.T) {
	c, err := NewClient(Options{ClientID: uniqueID("bad")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	err = c.Publish(ctx, "a/+", []byte("x"), 0, false)
	var me *Error
	if !errors.As(err, &me) || !errors.Is(err, ErrTopic) {
		t.Fatalf("wildcard publish: %v", err)
	}
	if want := "invalid topic name or topic filter (MQ_ERR_TOPIC)"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Fatalf("message %q lacks %q", err, want)
	}
	if err := c.Publish(ctx, "a/b", nil, 3, false); !errors.Is(err, ErrQoS) {
		t.Fatalf("qos 3: %v", err)
	}
	if err := c.Subscribe(ctx, "a/#/b", 0, nil); !errors.Is(err, ErrTopic) {
		t.Fatalf("bad filter: %v", err)
	}
	if err := c.SetServers("bogus://x"); !errors.Is(err, ErrURI) {
		t.Fatalf("bad uri: %v", err)
	}
	if _, err := NewClient(Options{Protocol: 9}); !errors.Is(err, ErrInval) {
		t.Fatalf("bad protocol: %v", err)
	}
	c.Close()
	if err := c.Publish(ctx, "a/b", nil, 0, false); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, proto := range []int{ProtocolV311, ProtocolV5} {
		for qos := 0; qos <= 2; qos++ {
			proto, qos := proto, qos
			t.Run(fmt.Sprintf("v%d/qos%d", proto, qos), func(t *testing.T) {
				t.Parallel()
				sub := connected(t, Options{Protocol: proto})
				pub := connected(t, Options{Protocol: proto})
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				topic := "go/rt/" + uniqueID("t")
				got := make(chan *Message, 16)
				if err := sub.Subscribe(ctx, topic, qos, func(_ *Client, m *Message) { got <- m }); err != nil {
					t.Fatalf("Subscribe: %v", err)
				}
				payloads := [][]byte{[]byte("a\x00b\x00\xffzz"), {}, {0}, bytes.Repeat([]byte{0, 1, 2}, 1000)}
				for _, p := range payloads {
					if err := pub.Publish(ctx, topic, p, qos, false); err != nil {
						t.Fatalf("Publish: %v", err)
					}
				}
				for i, p := range payloads {
					select {
					case m := <-got:
						if !bytes.Equal(m.Payload, p) || m.Topic != topic || m.QoS != qos {
							t.Fatalf("message %d: got %q qos %d on %q", i, m.Payload, m.QoS, m.Topic)
						}
					case <-ctx.Done():
						t.Fatalf("message %d not received", i)
					}
				}
			})
		}
	}
}

func TestMessagesChannelAndUnsubscribe(t *testing.T) {
	c := connected(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topic := "go/ch/" + uniqueID("t")
	if err := c.Subscribe(ctx, topic, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, topic, []byte("x\x00y"), 1, false); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-c.Messages():
		if string(m.Payload) != "x\x00y" {
			t.Fatalf("payload %q", m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("no message")
	}
	if err := c.Unsubscribe(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, topic, []byte("late"), 1, false); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-c.Messages():
		t.Fatalf("message after unsubscribe: %q", m.Payload)
	case <-time.After(300 * time.Millisecond):
	}
	if err := c.Disconnect(ctx); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	if c.IsConnected() {
		t.Fatal("still connected")
	}
}

func TestHandlerMayPublish(t *testing.T) {
	c := connected(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, out := "go/h/"+uniqueID("in"), "go/h/"+uniqueID("out")
	done := make(chan error, 1)
	if err := c.Subscribe(ctx, in, 1, func(c *Client, m *Message) {
		done <- c.Publish(ctx, out, m.Payload, 2, false)
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctx, out, 2, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, in, []byte("ping"), 1, false); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("publish from handler: %v", err)
	}
	select {
	case m := <-c.Messages():
		if string(m.Payload) != "ping" {
			t.Fatalf("payload %q", m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("no message")
	}
}

func TestConnectTimeout(t *testing.T) {
	// A port where nothing listens: Connect keeps retrying until ctx ends.
	c, err := NewClient(Options{Servers: "mqtt://127.0.0.1:1", ClientID: uniqueID("nc"),
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = c.Connect(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect: %v", err)
	}
	// Without reconnect the first failure is returned.
	c2, err := NewClient(Options{Servers: "mqtt://127.0.0.1:1", ClientID: uniqueID("nc"), NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := c2.Connect(ctx2); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect without reconnect: %v", err)
	}
}

var brokerMu sync.Mutex

func broker(t *testing.T, cmd string) {
	t.Helper()
	script := os.Getenv("MQ_TEST_BROKER")
	out, err := exec.Command(script, cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("broker %s: %v %s", cmd, err, out)
	}
}

func TestReconnect(t *testing.T) {
	if os.Getenv("MQ_TEST_BROKER") == "" {
		t.Skip("MQ_TEST_BROKER not set")
	}
	brokerMu.Lock()
	defer brokerMu.Unlock()
	var connects, losses int32
	lost := make(chan bool, 4)
	back := make(chan struct{}, 4)
	c := connected(t, Options{
		ReconnectMin: 100 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		OnConnect: func(*Client, ConnectInfo) {
			if atomic.AddInt32(&connects, 1) > 1 {
				select {
				case back <- struct{}{}:
				default:
				}
			}
		},
		OnConnectionLost: func(_ *Client, err error, again bool) {
			atomic.AddInt32(&losses, 1)
			select { // every failed attempt is reported too
			case lost <- again:
			default:
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	topic := "go/rc/" + uniqueID("t")
	if err := c.Subscribe(ctx, topic, 1, nil); err != nil {
		t.Fatal(err)
	}
	broker(t, "stop")
	select {
	case again := <-lost:
		if !again {
			t.Fatal("will not reconnect")
		}
	case <-ctx.Done():
		broker(t, "start")
		t.Fatal("loss not reported")
	}
	broker(t, "start")
	select {
	case <-back:
	case <-ctx.Done():
		t.Fatal("no reconnect")
	}
	if err := c.Publish(ctx, topic, []byte("after\x00"), 1, false); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-c.Messages():
		if string(m.Payload) != "after\x00" {
			t.Fatalf("payload %q", m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("no message after reconnect (resubscribe?)")
	}
}

// The child of TestAckAfterHandler: subscribes with a handler that blocks
// (the parent kills the process there). Runs only with MQ_ACK_CHILD set.
func TestAckChildProcess(t *testing.T) {
	id, topic := os.Getenv("MQ_ACK_CHILD"), os.Getenv("MQ_ACK_TOPIC")
	if id == "" {
		t.Skip("the child of TestAckAfterHandler")
	}
	var qos int
	fmt.Sscan(os.Getenv("MQ_ACK_QOS"), &qos)
	mode := os.Getenv("MQ_ACK_MODE")
	handler := func(c *Client, m *Message) {
		fmt.Printf("HANDLER %s\n", m.Payload)
		time.Sleep(time.Minute) // killed in here
	}
	opts := Options{ClientID: id, NoCleanStart: true}
	if mode == "default" {
		opts.DefaultHandler = handler
	}
	c := connected(t, opts)
	ctx := context.Background()
	var h MessageHandler
	if mode == "route" {
		h = handler
	}
	if err := c.Subscribe(ctx, topic, qos, h); err != nil {
		t.Fatal(err)
	}
	fmt.Println("SUBSCRIBED")
	time.Sleep(time.Minute)
}

// A received QoS 1/2 message is acknowledged only after its handler
// returned: a process killed inside the handler gets the message again
// from its session (tests/chaos/test_repro.c in C).
func TestAckAfterHandler(t *testing.T) {
	uri := brokerURI(t)
	for _, tc := range []struct {
		mode string
		qos  int
	}{{"route", 1}, {"route", 2}, {"default", 1}} {
		t.Run(fmt.Sprintf("%s-qos%d", tc.mode, tc.qos), func(t *testing.T) {
			id, topic := uniqueID("ackkill"), uniqueID("go/ackkill")
			cmd := exec.Command(os.Args[0], "-test.run=^TestAckChildProcess$", "-test.v")
			cmd.Env = append(os.Environ(), "MQ_ACK_CHILD="+id, "MQ_ACK_TOPIC="+topic,
				fmt.Sprintf("MQ_ACK_QOS=%d", tc.qos), "MQ_ACK_MODE="+tc.mode)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string, 16)
			go func() {
				buf := make([]byte, 4096)
				var acc []byte
				for {
					n, err := out.Read(buf)
					acc = append(acc, buf[:n]...)
					for {
						i := bytes.IndexByte(acc, '\n')
						if i < 0 {
							break
						}
						lines <- string(acc[:i])
						acc = acc[i+1:]
					}
					if err != nil {
						close(lines)
						return
					}
				}
			}()
			expect := func(want string) {
				t.Helper()
				deadline := time.After(15 * time.Second)
				for {
					select {
					case l, ok := <-lines:
						if !ok {
							t.Fatalf("child ended before %q", want)
						}
						if l == want {
							return
						}
					case <-deadline:
						t.Fatalf("no %q from the child", want)
					}
				}
			}
			func() {
				defer func() {
					cmd.Process.Kill()
					cmd.Wait()
				}()
				expect("SUBSCRIBED")
				pub := connected(t, Options{})
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := pub.Publish(ctx, topic, []byte("keep-me"), tc.qos, false); err != nil {
					t.Fatal(err)
				}
				expect("HANDLER keep-me")
				time.Sleep(300 * time.Millisecond) // an early ack would be out
			}()
			got := make(chan *Message, 4)
			again, err := NewClient(Options{Servers: uri, ClientID: id, NoCleanStart: true,
				DefaultHandler: func(c *Client, m *Message) { got <- m }})
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := again.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-got:
				if m.Topic != topic || string(m.Payload) != "keep-me" || m.QoS != tc.qos {
					t.Fatalf("got %s %q QoS %d", m.Topic, m.Payload, m.QoS)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the broker did not send the message again")
			}
			again.Disconnect(ctx)
		})
	}
}
