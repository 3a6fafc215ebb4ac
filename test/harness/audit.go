package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"
)

// AuditPolicy makes the API server log, at Metadata level, every request by
// a ServiceAccount of Tierguard's namespace, and nothing else: who did what,
// and whether it was allowed. Only the ResponseComplete stage is kept: one
// line per request.
const AuditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: Metadata
  userGroups: ["system:serviceaccounts:` + SystemNamespace + `"]
- level: None
`

// AuditEvent is the part of an audit.k8s.io/v1 Event the suites read.
type AuditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef       *AuditObjectRef      `json:"objectRef"`
	ResponseStatus  *AuditResponseStatus `json:"responseStatus"`
	RequestReceived time.Time            `json:"requestReceivedTimestamp"`
	RequestURI      string               `json:"requestURI"`
}

// AuditObjectRef is the object a request was about.
type AuditObjectRef struct {
	Resource    string `json:"resource"`
	APIGroup    string `json:"apiGroup"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	Subresource string `json:"subresource"`
}

// AuditResponseStatus is how the API server answered.
type AuditResponseStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Resource returns resource[/subresource] of the request, or its URI.
func (e AuditEvent) Resource() string {
	if e.ObjectRef == nil {
		return e.RequestURI
	}
	if e.ObjectRef.Subresource != "" {
		return e.ObjectRef.Resource + "/" + e.ObjectRef.Subresource
	}
	return e.ObjectRef.Resource
}

// IsWrite reports whether the request changes state.
func (e AuditEvent) IsWrite() bool {
	return slices.Contains([]string{"create", "update", "patch", "delete", "deletecollection"}, e.Verb)
}

// Denied reports whether RBAC refused the request.
func (e AuditEvent) Denied() bool { return e.ResponseStatus != nil && e.ResponseStatus.Code == 403 }

// String describes the request for a failure message.
func (e AuditEvent) String() string {
	code := 0
	if e.ResponseStatus != nil {
		code = e.ResponseStatus.Code
	}
	where := ""
	if e.ObjectRef != nil {
		where = e.ObjectRef.Namespace + "/" + e.ObjectRef.Name
	}
	return fmt.Sprintf("%s %s %s %s %s -> %d", e.RequestReceived.Format(time.RFC3339Nano), e.User.Username, e.Verb, e.Resource(), where, code)
}

// ReadAudit returns the events of an audit log received at or after since.
func ReadAudit(path string, since time.Time) ([]AuditEvent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer func() { _ = f.Close() }() // read only
	var out []AuditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		var e AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue // the API server may be writing the last line
		}
		if !e.RequestReceived.Before(since) {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}
