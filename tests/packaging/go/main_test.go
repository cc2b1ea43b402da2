package main

import (
	"os"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	uri := os.Getenv("MQ_TEST_URI")
	if uri == "" {
		t.Skip("MQ_TEST_URI not set")
	}
	if err := roundTrip(uri); err != nil {
		t.Fatal(err)
	}
}
