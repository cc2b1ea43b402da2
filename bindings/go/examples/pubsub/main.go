// Command pubsub: libmq from Go: subscribe, publish a binary payload at
// QoS 1 to ourselves, print it, disconnect.
//
//	go run ./examples/pubsub [mqtt://host:port]   (default: MQ_TEST_URI or localhost)
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	mq "github.com/libmq/libmq/bindings/go"
)

func main() {
	uri := os.Getenv("MQ_TEST_URI")
	if len(os.Args) > 1 {
		uri = os.Args[1]
	}
	if uri == "" {
		uri = "mqtt://127.0.0.1:1883"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, err := mq.NewClient(mq.Options{Servers: uri, ClientID: fmt.Sprintf("go-example-%d", os.Getpid()),
		Protocol: mq.ProtocolV5})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("connected")

	const topic = "libmq/example/go"
	got := make(chan *mq.Message, 1)
	if err := c.Subscribe(ctx, topic, 1, func(_ *mq.Client, m *mq.Message) { got <- m }); err != nil {
		log.Fatal(err)
	}
	// Waits for the PUBACK.
	if err := c.Publish(ctx, topic, []byte("hello\x00world"), 1, false); err != nil {
		log.Fatal(err)
	}
	fmt.Println("publish acknowledged")
	select {
	case m := <-got:
		fmt.Printf("message on %s: %q (%d bytes)\n", m.Topic, m.Payload, len(m.Payload))
	case <-ctx.Done():
		log.Fatal("no message")
	}
	if err := c.Disconnect(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("disconnected")
}
