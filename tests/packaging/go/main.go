// Command app - a Go program as a user of libmq's Go module writes it,
// built by the packaging test outside the repository with no replace
// directive (module proxy, workspace and GOPATH mode), against the packaged
// libmq. It prints the version and makes a QoS 1 round trip through the
// broker at argv[1] (or MQ_TEST_URI); main_test.go does the same under
// `go test`.
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	mq "github.com/libmq/libmq/bindings/go"
)

func roundTrip(uri string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := mq.NewClient(mq.Options{Servers: uri,
		ClientID: fmt.Sprintf("libmq-packaging-go-%d", os.Getpid()), Protocol: mq.ProtocolV5})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		return err
	}
	const topic = "libmq/packaging/go"
	payload := []byte("go\x00\xffpackaged")
	got := make(chan []byte, 1)
	if err := c.Subscribe(ctx, topic, 1, func(_ *mq.Client, m *mq.Message) { got <- m.Payload }); err != nil {
		return err
	}
	if err := c.Publish(ctx, topic, payload, 1, false); err != nil {
		return err
	}
	select {
	case p := <-got:
		if !bytes.Equal(p, payload) {
			return fmt.Errorf("payload %q, want %q", p, payload)
		}
	case <-ctx.Done():
		return fmt.Errorf("no message: %w", ctx.Err())
	}
	return c.Disconnect(ctx)
}

func main() {
	uri := os.Getenv("MQ_TEST_URI")
	if len(os.Args) > 1 {
		uri = os.Args[1]
	}
	fmt.Println("libmq", mq.Version())
	if err := roundTrip(uri); err != nil {
		fmt.Fprintln(os.Stderr, "round trip:", err)
		os.Exit(1)
	}
	fmt.Println("ok")
}
