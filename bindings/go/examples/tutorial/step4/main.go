// Tutorial step 4: connect and disconnect handlers; libmq reconnects by
// itself (here across a broker restart) and OnConnect subscribes again,
// as the paho tutorial does in on_connect.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	mq "github.com/libmq/libmq/bindings/go"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func main() {
	topic := env("TUTORIAL_TOPIC", "tutorial/step4")
	done := make(chan struct{})
	connects := 0
	opts := mq.Options{
		Servers:      env("MQ_TEST_URI", "mqtt://localhost:1883"),
		ReconnectMin: 200 * time.Millisecond,
		ReconnectMax: time.Second,
		OnConnect: func(c *mq.Client, info mq.ConnectInfo) {
			connects++
			fmt.Println("connected")
			go func() { // Subscribe waits for the SUBACK: not on the handler goroutine
				if err := c.Subscribe(context.Background(), topic, 1, nil); err == nil {
					fmt.Println("subscribed")
				}
			}()
		},
		OnConnectionLost: func(c *mq.Client, err error, willReconnect bool) {
			if connects > 0 && err != nil {
				fmt.Println("connection lost, reconnecting:", willReconnect)
			}
		},
		DefaultHandler: func(c *mq.Client, m *mq.Message) {
			fmt.Printf("received %q after %d connections\n", m.Payload, connects)
			if connects >= 2 {
				close(done)
			}
		},
	}
	client, err := mq.NewClient(opts)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := client.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		log.Fatal("gave up")
	}
	client.Disconnect(ctx)
}
