package overlay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"
)

// Fetcher reads feeds from files or http(s) URLs.
type Fetcher struct {
	// Client does the downloads (http.DefaultClient when nil).
	Client *http.Client
	// MaxSize caps a feed in bytes (DefaultMaxSize when 0).
	MaxSize int64
	// Timeout bounds a whole download (2 minutes when 0).
	Timeout time.Duration
}

// Fetch reads and parses the feed at from (a file or an http(s) URL) as
// Parse does. The body is parsed while it streams in, under the size cap,
// so a huge or endless download is cut off early; a connection that
// breaks mid-way (shorter than its Content-Length, or a broken chunked
// body) is an error before anything is stored.
func (f Fetcher) Fetch(ctx context.Context, from, category string, now time.Time) ([]Entry, []string, error) {
	maxSize := f.MaxSize
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if !strings.HasPrefix(from, "http://") && !strings.HasPrefix(from, "https://") {
		fh, err := os.Open(from)
		if err != nil {
			return nil, nil, err
		}
		defer fh.Close()
		if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > maxSize {
			return nil, nil, fmt.Errorf("%s: %w (%d bytes, cap %d; raise --max-size if the list is right)", from, ErrTooBig, st.Size(), maxSize)
		}
		return Parse(fh, from, category, now, maxSize)
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, from, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "text/plain, application/json;q=0.9, */*;q=0.1")
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", from, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("%s: %s", from, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && (mt == "text/html" || mt == "application/xhtml+xml") {
		return nil, nil, fmt.Errorf("%s: the server sent an HTML page (%s), not a list: a login, error or landing page?", from, mt)
	}
	if resp.ContentLength > maxSize {
		return nil, nil, fmt.Errorf("%s: %w (Content-Length %d, cap %d; raise --max-size if the list is right)", from, ErrTooBig, resp.ContentLength, maxSize)
	}
	e, bad, err := Parse(resp.Body, from, category, now, maxSize)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, bad, fmt.Errorf("download cut short: %w", err)
	}
	if err != nil {
		return nil, bad, err
	}
	// Parse stops at the end of the data it understood; make sure the
	// body really ended (Go reports a short body only on the last read).
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1)); err != nil {
		return nil, bad, fmt.Errorf("%s: download cut short: %w", from, err)
	}
	return e, bad, nil
}
