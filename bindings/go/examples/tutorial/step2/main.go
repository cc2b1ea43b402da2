// Tutorial step 2: subscribe with a message handler; the client's own
// goroutines run it in the background (paho's loop_start) while main waits.
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
	client, err := mq.NewClient(mq.Options{Servers: env("MQ_TEST_URI", "mqtt://localhost:1883")})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := client.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	count := 0
	onMessage := func(c *mq.Client, m *mq.Message) { // runs on the client's handler goroutine
		count++
		fmt.Printf("received %q on %s\n", m.Payload, m.Topic)
		if count == 3 {
			close(done)
		}
	}
	if err := client.Subscribe(ctx, env("TUTORIAL_TOPIC", "tutorial/step2"), 1, onMessage); err != nil {
		log.Fatal(err)
	}
	fmt.Println("subscribed")
	select {
	case <-done:
	case <-ctx.Done():
		log.Fatal("no messages")
	}
	client.Disconnect(ctx)
}
