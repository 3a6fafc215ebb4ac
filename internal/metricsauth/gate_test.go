package metricsauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clocktesting "k8s.io/utils/clock/testing"
)

// fakeTokens is a TokenReview API that knows some tokens and counts the
// reviews per token; errs are returned, in order, before any answer.
type fakeTokens struct {
	mu    sync.Mutex
	users map[string]authnv1.UserInfo
	calls map[string]int
	errs  []error
}

func (f *fakeTokens) Create(_ context.Context, tr *authnv1.TokenReview, _ metav1.CreateOptions) (*authnv1.TokenReview, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[tr.Spec.Token]++
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	out := tr.DeepCopy()
	if u, ok := f.users[tr.Spec.Token]; ok {
		out.Status = authnv1.TokenReviewStatus{Authenticated: true, User: u}
	}
	return out, nil
}

func (f *fakeTokens) reviews(token string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[token]
}

// fakeAccess allows get on the listed paths to every user, and counts the
// reviews per path.
type fakeAccess struct {
	mu      sync.Mutex
	allowed map[string]bool
	calls   map[string]int
	errs    []error
}

func (f *fakeAccess) Create(_ context.Context, sar *authzv1.SubjectAccessReview, _ metav1.CreateOptions) (*authzv1.SubjectAccessReview, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	path := sar.Spec.NonResourceAttributes.Path
	f.calls[path]++
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	out := sar.DeepCopy()
	out.Status.Allowed = f.allowed[path] && sar.Spec.NonResourceAttributes.Verb == "get"
	return out, nil
}

func (f *fakeAccess) reviews(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

const scraperToken = "scraper-token"

var scraper = authnv1.UserInfo{Username: "system:serviceaccount:monitoring:prometheus", UID: "u1", Groups: []string{"system:serviceaccounts"}}

func newFakes() (*fakeTokens, *fakeAccess) {
	return &fakeTokens{users: map[string]authnv1.UserInfo{scraperToken: scraper}}, &fakeAccess{allowed: map[string]bool{"/metrics": true}}
}

// TestJunkTokensDoNotFlushTheCache: an attacker sending many distinct junk
// tokens must not evict the legitimate scraper's cached token or decision;
// its next scrape is answered from the cache.
func TestJunkTokensDoNotFlushTheCache(t *testing.T) {
	tokens, access := newFakes()
	g := newGate(tokens, access)
	ctx := context.Background()
	scrape := func() {
		t.Helper()
		u, err := g.authenticate(ctx, scraperToken)
		if err != nil || u == nil {
			t.Fatalf("authenticate scraper: %v, %v", u, err)
		}
		if ok, _, err := g.authorize(ctx, u, "get", "/metrics"); err != nil || !ok {
			t.Fatalf("authorize scraper: %v, %v", ok, err)
		}
	}
	scrape()
	for i := range 3 * cacheLimit {
		if u, err := g.authenticate(ctx, fmt.Sprintf("junk-%d", i)); err != nil || u != nil {
			t.Fatalf("junk token authenticated: %v, %v", u, err)
		}
	}
	scrape()
	if n := tokens.reviews(scraperToken); n != 1 {
		t.Errorf("the scraper's token was reviewed %d times, want 1: junk tokens flushed it from the cache", n)
	}
	if n := access.reviews("/metrics"); n != 1 {
		t.Errorf("the scraper's access was reviewed %d times, want 1", n)
	}
	// Rejected tokens are kept apart: a new valid token is still cached.
	tokens.users["rotated-token"] = scraper
	for range 2 {
		if u, err := g.authenticate(ctx, "rotated-token"); err != nil || u == nil {
			t.Fatalf("authenticate the rotated token: %v, %v", u, err)
		}
	}
	if n := tokens.reviews("rotated-token"); n != 1 {
		t.Errorf("a new valid token was reviewed %d times, want 1: junk tokens keep it out of the cache", n)
	}
}

// TestMadeUpPathsDoNotFlushTheCache: a user with a valid token asking for
// many paths it may not get must not evict another user's decision.
func TestMadeUpPathsDoNotFlushTheCache(t *testing.T) {
	tokens, access := newFakes()
	g := newGate(tokens, access)
	ctx := context.Background()
	if ok, _, err := g.authorize(ctx, &scraper, "get", "/metrics"); err != nil || !ok {
		t.Fatalf("authorize scraper: %v, %v", ok, err)
	}
	prober := &authnv1.UserInfo{Username: "system:serviceaccount:default:prober"}
	for i := range 3 * cacheLimit {
		if ok, _, err := g.authorize(ctx, prober, "get", fmt.Sprintf("/junk/%d", i)); err != nil || ok {
			t.Fatalf("made-up path allowed: %v, %v", ok, err)
		}
	}
	if ok, _, err := g.authorize(ctx, &scraper, "get", "/metrics"); err != nil || !ok {
		t.Fatalf("authorize scraper again: %v, %v", ok, err)
	}
	if n := access.reviews("/metrics"); n != 1 {
		t.Errorf("the scraper's access was reviewed %d times, want 1: made-up paths flushed it from the cache", n)
	}
}

// newTestGate is a gate over fakes with a fake clock, and a sleep that
// records the waits instead of waiting.
func newTestGate(tokens *fakeTokens, access *fakeAccess) (*gate, *clocktesting.FakePassiveClock, *[]time.Duration) {
	g := newGate(tokens, access)
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	g.clock = clk
	var waits []time.Duration
	g.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	return g, clk, &waits
}

// TestCacheHitsAndExpiry: each answer is reused until its TTL has passed,
// and asked again after.
func TestCacheHitsAndExpiry(t *testing.T) {
	cases := []struct {
		name string
		// ask asks once; reviews counts the reviews it caused so far.
		ask     func(t *testing.T, g *gate)
		reviews func(*fakeTokens, *fakeAccess) int
		ttl     time.Duration
	}{
		{name: "an authenticated token", ttl: tokenTTL,
			ask: func(t *testing.T, g *gate) {
				if u, err := g.authenticate(context.Background(), scraperToken); err != nil || u == nil || u.Username != scraper.Username {
					t.Fatalf("authenticate = %v, %v", u, err)
				}
			},
			reviews: func(tk *fakeTokens, _ *fakeAccess) int { return tk.reviews(scraperToken) }},
		{name: "a rejected token", ttl: tokenTTL,
			ask: func(t *testing.T, g *gate) {
				if u, err := g.authenticate(context.Background(), "junk"); err != nil || u != nil {
					t.Fatalf("authenticate = %v, %v", u, err)
				}
			},
			reviews: func(tk *fakeTokens, _ *fakeAccess) int { return tk.reviews("junk") }},
		{name: "an allowed request", ttl: allowTTL,
			ask: func(t *testing.T, g *gate) {
				if ok, _, err := g.authorize(context.Background(), &scraper, "get", "/metrics"); err != nil || !ok {
					t.Fatalf("authorize = %v, %v", ok, err)
				}
			},
			reviews: func(_ *fakeTokens, ac *fakeAccess) int { return ac.reviews("/metrics") }},
		{name: "a denied request", ttl: denyTTL,
			ask: func(t *testing.T, g *gate) {
				if ok, _, err := g.authorize(context.Background(), &scraper, "get", "/debug/pprof/"); err != nil || ok {
					t.Fatalf("authorize = %v, %v", ok, err)
				}
			},
			reviews: func(_ *fakeTokens, ac *fakeAccess) int { return ac.reviews("/debug/pprof/") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tokens, access := newFakes()
			g, clk, _ := newTestGate(tokens, access)
			start := clk.Now()
			for _, step := range []struct {
				at      time.Duration
				reviews int
			}{{0, 1}, {time.Second, 1}, {tc.ttl - time.Second, 1}, {tc.ttl, 2}, {tc.ttl + time.Second, 2}} {
				clk.SetTime(start.Add(step.at))
				tc.ask(t, g)
				if got := tc.reviews(tokens, access); got != step.reviews {
					t.Errorf("after %v: %d reviews, want %d", step.at, got, step.reviews)
				}
			}
		})
	}
}

// TestDecisionsAreTheUsers: a decision is cached for the whole user, so
// another user, or the same name in other groups, is asked about anew.
func TestDecisionsAreTheUsers(t *testing.T) {
	tokens, access := newFakes()
	g, _, _ := newTestGate(tokens, access)
	other := scraper
	other.Groups = []string{"system:authenticated"}
	for _, u := range []*authnv1.UserInfo{&scraper, &other, {Username: "someone"}, &scraper} {
		if _, _, err := g.authorize(context.Background(), u, "get", "/metrics"); err != nil {
			t.Fatal(err)
		}
	}
	if n := access.reviews("/metrics"); n != 3 {
		t.Errorf("%d reviews, want 3: one per distinct user", n)
	}
}

// TestReviewErrors: a review that fails for good is not retried, fails the
// request, and is not cached; transient failures are retried with a
// growing wait, up to reviewAttempts attempts.
func TestReviewErrors(t *testing.T) {
	gr := schema.GroupResource{Group: "authentication.k8s.io", Resource: "tokenreviews"}
	internal := apierrors.NewInternalError(errors.New("etcd leader changed"))
	throttled := apierrors.NewTooManyRequests("slow down", 1)
	timeout := apierrors.NewTimeoutError("request did not complete", 1)
	forbidden := apierrors.NewForbidden(gr, "", errors.New("the manager may not create tokenreviews"))
	cases := []struct {
		name      string
		errs      []error
		wantErr   bool
		wantCalls int
		wantWaits []time.Duration
	}{
		{name: "no error", wantCalls: 1},
		{name: "a permanent error is not retried", errs: []error{forbidden}, wantErr: true, wantCalls: 1},
		{name: "transient errors are retried", errs: []error{internal, throttled, timeout}, wantCalls: 4,
			wantWaits: []time.Duration{500 * time.Millisecond, 750 * time.Millisecond, 1125 * time.Millisecond}},
		{name: "a permanent error after a transient one ends the retries", errs: []error{internal, forbidden}, wantErr: true, wantCalls: 2,
			wantWaits: []time.Duration{500 * time.Millisecond}},
		{name: "retries are bounded", errs: []error{internal, internal, internal, internal, internal}, wantErr: true, wantCalls: reviewAttempts,
			wantWaits: []time.Duration{500 * time.Millisecond, 750 * time.Millisecond, 1125 * time.Millisecond, 1687500 * time.Microsecond}},
	}
	for _, tc := range cases {
		t.Run("token review: "+tc.name, func(t *testing.T) {
			tokens, access := newFakes()
			tokens.errs = slices.Clone(tc.errs)
			g, _, waits := newTestGate(tokens, access)
			u, err := g.authenticate(context.Background(), scraperToken)
			if (err != nil) != tc.wantErr || (err == nil && u == nil) {
				t.Errorf("authenticate = %v, %v; want an error: %v", u, err, tc.wantErr)
			}
			if n := tokens.reviews(scraperToken); n != tc.wantCalls {
				t.Errorf("%d reviews, want %d", n, tc.wantCalls)
			}
			if !slices.Equal(*waits, tc.wantWaits) {
				t.Errorf("waits %v, want %v", *waits, tc.wantWaits)
			}
			if tc.wantErr {
				// Nothing was cached: the next request asks again.
				if u, err := g.authenticate(context.Background(), scraperToken); err != nil || u == nil {
					t.Errorf("after the error: %v, %v", u, err)
				}
				if n := tokens.reviews(scraperToken); n != tc.wantCalls+1 {
					t.Errorf("after the error: %d reviews, want %d", n, tc.wantCalls+1)
				}
			}
		})
		t.Run("access review: "+tc.name, func(t *testing.T) {
			tokens, access := newFakes()
			access.errs = slices.Clone(tc.errs)
			g, _, waits := newTestGate(tokens, access)
			ok, _, err := g.authorize(context.Background(), &scraper, "get", "/metrics")
			if (err != nil) != tc.wantErr || (err == nil && !ok) {
				t.Errorf("authorize = %v, %v; want an error: %v", ok, err, tc.wantErr)
			}
			if n := access.reviews("/metrics"); n != tc.wantCalls {
				t.Errorf("%d reviews, want %d", n, tc.wantCalls)
			}
			if !slices.Equal(*waits, tc.wantWaits) {
				t.Errorf("waits %v, want %v", *waits, tc.wantWaits)
			}
		})
	}
}

// TestRetryStopsWithTheRequest: a request that ends while waiting to
// retry fails with the review's error and is not retried.
func TestRetryStopsWithTheRequest(t *testing.T) {
	tokens, access := newFakes()
	tokens.errs = []error{apierrors.NewInternalError(errors.New("etcd leader changed")), nil}
	g, _, _ := newTestGate(tokens, access)
	g.sleep = sleepContext
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.authenticate(ctx, scraperToken); !apierrors.IsInternalError(err) {
		t.Errorf("authenticate = %v, want the internal error", err)
	}
	if n := tokens.reviews(scraperToken); n != 1 {
		t.Errorf("%d reviews, want 1", n)
	}
}

// TestFilterResponses: the status codes the filter answers with.
func TestFilterResponses(t *testing.T) {
	tokens, access := newFakes()
	g, _, _ := newTestGate(tokens, access)
	handler, err := g.filter(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, auth string
		errs             []error
		want             int
	}{
		{name: "no token", path: "/metrics", want: http.StatusUnauthorized},
		{name: "not a bearer token", path: "/metrics", auth: "Basic " + scraperToken, want: http.StatusUnauthorized},
		{name: "an empty bearer token", path: "/metrics", auth: "Bearer  ", want: http.StatusUnauthorized},
		{name: "an unknown token", path: "/metrics", auth: "Bearer junk", want: http.StatusUnauthorized},
		{name: "allowed", path: "/metrics", auth: "Bearer " + scraperToken, want: http.StatusOK},
		{name: "scheme in any case", path: "/metrics", auth: "bearer " + scraperToken, want: http.StatusOK},
		{name: "denied", path: "/debug/pprof/", auth: "Bearer " + scraperToken, want: http.StatusForbidden},
		{name: "the review fails", path: "/metrics", auth: "Bearer other-token",
			errs: []error{apierrors.NewServiceUnavailable("down")}, want: http.StatusInternalServerError},
	}
	for _, tc := range cases {
		tokens.errs = tc.errs
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s: status %d (%s), want %d", tc.name, rec.Code, rec.Body, tc.want)
		}
	}
}
