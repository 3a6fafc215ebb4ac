package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// fetch sends one HTTPS GET, with the bearer token read from a file when
// given, and prints the response's status code and the first line of its
// body. The server's certificate is not verified: the test beds use it to
// scrape the manager's self-signed metrics endpoint, where what is under
// test is the authorization, not the certificate.
func fetch(args []string) error {
	fs := newFlags("fetch")
	tokenFile := fs.String("token-file", "", "file holding a bearer token (empty: none)")
	timeout := fs.Duration("timeout", 5*time.Second, "time allowed for the request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("want one URL, got %d arguments", fs.NArg())
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fs.Arg(0), nil)
	if err != nil {
		return err
	}
	if *tokenFile != "" {
		token, err := os.ReadFile(*tokenFile)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // see above
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	first, _, _ := strings.Cut(string(body), "\n")
	fmt.Printf("%d %s\n", resp.StatusCode, first)
	return nil
}
