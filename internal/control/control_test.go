package control

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	c := NewConn(&buf, &buf)
	msgs := []Message{
		{Type: TypeHello, Platform: "sim", PolicyHash: "ab"},
		{Type: TypeAttest, Nonce: []byte{1, 2, 3}},
		{Type: TypeCertificate, Chain: [][]byte{{1}, {2, 3}}},
		{Type: TypeReady, Listen: "unix:/x", NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, m := range msgs {
		if err := c.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range msgs {
		got, err := c.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != want.Type || got.Listen != want.Listen || !got.NotAfter.Equal(want.NotAfter) ||
			!bytes.Equal(got.Nonce, want.Nonce) || len(got.Chain) != len(want.Chain) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	if _, err := c.Receive(); err != io.EOF {
		t.Fatalf("at end: %v, want EOF", err)
	}
}

func TestReceiveErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"not json", "hello\n", ErrMalformed},
		{"no type", "{}\n", ErrMalformed},
		{"array", "[1]\n", ErrMalformed},
		{"too long", `{"type":"x","message":"` + strings.Repeat("a", MaxLine) + "\"}\n", ErrTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConn(strings.NewReader(tc.in+`{"type":"ok"}`+"\n"), io.Discard)
			if _, err := c.Receive(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			m, err := c.Receive()
			if err != nil || m.Type != "ok" {
				t.Fatalf("next message: %+v, %v", m, err)
			}
		})
	}
}

func TestSendNoType(t *testing.T) {
	if err := NewConn(nil, io.Discard).Send(Message{}); err == nil {
		t.Fatal("sent a message without a type")
	}
}

func FuzzReceive(f *testing.F) {
	f.Add([]byte(`{"type":"attest","nonce":"AQID"}` + "\n"))
	f.Add([]byte(`{"type":"certificate","chain":["AQ==","Ag=="]}`))
	f.Add([]byte("\n\n{\"type\":\n"))
	f.Add([]byte(`{"type":"ready","not_after":"2027-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		c := NewConn(bytes.NewReader(in), io.Discard)
		for i := 0; i < 100; i++ {
			m, err := c.Receive()
			if err == io.EOF {
				return
			}
			if err == nil && m.Type == "" {
				t.Fatal("message without type accepted")
			}
		}
	})
}
