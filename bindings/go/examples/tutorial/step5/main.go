// Tutorial step 5: a persistent session (clean start off, QoS 1) and a
// retained Last Will "home/status offline" that the broker publishes when
// the program dies without disconnecting (e.g. SIGKILL). The program says
// "online" (retained) when connected and obeys commands on home/commands
// until it gets "stop"; commands sent while it was away wait in the session.
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
	stop := make(chan struct{})
	client, err := mq.NewClient(mq.Options{
		Servers:      env("MQ_TEST_URI", "mqtt://localhost:1883"),
		ClientID:     env("TUTORIAL_ID", "tutorial-step5-go"),
		NoCleanStart: true,
		Will:         &mq.Will{Topic: "home/status", Payload: []byte("offline"), QoS: 1, Retain: true},
		// set before Connect: commands queued in the session arrive at once
		DefaultHandler: func(c *mq.Client, m *mq.Message) {
			fmt.Printf("command: %s\n", m.Payload)
			if string(m.Payload) == "stop" {
				close(stop)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Connect(cctx); err != nil {
		log.Fatal(err)
	}
	if err := client.Subscribe(cctx, "home/commands", 1, nil); err != nil {
		log.Fatal(err)
	}
	if err := client.Publish(cctx, "home/status", []byte("online"), 1, true); err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready")
	<-stop
	client.Publish(ctx, "home/status", []byte("stopped"), 1, true)
	client.Disconnect(ctx) // a clean end: the broker drops the Will
}
