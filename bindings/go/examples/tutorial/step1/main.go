// Tutorial step 1: connect, publish one message, disconnect.
//
//	go run ./examples/tutorial/step1     (broker: MQ_TEST_URI, default mqtt://localhost:1883)
//
// Disconnect sends what was published before it, so the message arrives
// even at QoS 0.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strconv"
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
	qos, _ := strconv.Atoi(env("TUTORIAL_QOS", "0"))
	client, err := mq.NewClient(mq.Options{Servers: env("MQ_TEST_URI", "mqtt://localhost:1883")})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	topic := env("TUTORIAL_TOPIC", "tutorial/step1")
	if err := client.Publish(ctx, topic, []byte("Hello from libmq"), qos, false); err != nil {
		log.Fatal(err)
	}
	if err := client.Disconnect(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("published and disconnected")
}
