// Tutorial step 3: the two ways a Go program takes messages: a handler
// called on the client's goroutine ("handler"), or a channel the program
// reads in its own loop ("channel", nil handler: Messages()).
//
//	go run ./examples/tutorial/step3 handler|channel
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
	style := "handler"
	if len(os.Args) > 1 {
		style = os.Args[1]
	}
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
	topic := env("TUTORIAL_TOPIC", "tutorial/step3")
	switch style {
	case "handler":
		got := make(chan string)
		err = client.Subscribe(ctx, topic, 1, func(_ *mq.Client, m *mq.Message) { got <- string(m.Payload) })
		fmt.Println("subscribed")
		for i := 0; i < 2 && err == nil; i++ {
			fmt.Println("received", <-got)
		}
	case "channel":
		err = client.Subscribe(ctx, topic, 1, nil)
		fmt.Println("subscribed")
		for i := 0; i < 2 && err == nil; i++ {
			select {
			case m := <-client.Messages():
				fmt.Println("received", string(m.Payload))
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
	default:
		log.Fatalf("unknown style %q", style)
	}
	if err != nil {
		log.Fatal(err)
	}
	client.Disconnect(ctx)
}
