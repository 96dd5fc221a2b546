package webtraffic

import (
	"context"
	"testing"
	"time"
)

// Every profile talks to the server for a few seconds without error.
func TestProfiles(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	errs := make(chan error, len(Profiles))
	for _, p := range Profiles {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if err := (Client{Profile: p, Addr: s.Addr(), SNI: "www.example.org"}).Run(ctx); err != nil {
				errs <- err
				return
			}
			errs <- nil
		}()
	}
	for range Profiles {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if _, err := Listen("192.0.2.1:443"); err == nil {
		t.Error("listened on an address that is not a test address")
	}
	if err := (Client{Profile: "nope", Addr: s.Addr()}).Run(context.Background()); err == nil {
		t.Error("unknown profile accepted")
	}
}
