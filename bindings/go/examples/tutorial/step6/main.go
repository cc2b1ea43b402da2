// Tutorial step 6: TLS. The broker's certificate is checked against the CA
// and the host name of the URI; a certificate for another name is refused.
//
//	go run ./examples/tutorial/step6 mqtts://localhost:8883 ca.crt
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	mq "github.com/libmq/libmq/bindings/go"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: step6 mqtts://host:port ca.crt")
		os.Exit(2)
	}
	client, err := mq.NewClient(mq.Options{Servers: os.Args[1], TLS: mq.TLS{CAFile: os.Args[2]}})
	if err != nil {
		fmt.Println("bad options:", err)
		os.Exit(2)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = client.Connect(ctx)
	if errors.Is(err, mq.ErrTLS) {
		fmt.Println("TLS error:", err)
		os.Exit(1)
	} else if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	fmt.Println("connected securely")
	client.Disconnect(ctx)
}
