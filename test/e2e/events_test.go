package e2e_test

import (
	"context"
	"encoding/json"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/util/sets"
)

// profileEvent is an event about a profile, as kubectl lists it.
type profileEvent struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// Note is the message of events.k8s.io/v1 events.
	Note string `json:"note"`
}

// text returns the event's message, whichever API it came from.
func (e profileEvent) text() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Note
}

type profileEvents []profileEvent

// profileEventsOf lists the events about profile name with `kubectl events --for`.
func profileEventsOf(ctx context.Context, name string) profileEvents {
	GinkgoHelper()
	out, err := kubectl.Quiet().Run(ctx, "events", "--for", "segmentationprofile/"+name, "-o", "json")
	Expect(err).NotTo(HaveOccurred())
	var list struct {
		Items []profileEvent `json:"items"`
	}
	Expect(json.Unmarshal([]byte(out), &list)).To(Succeed())
	return list.Items
}

// reasons returns the distinct reasons, sorted.
func (es profileEvents) reasons() []string {
	reasons := sets.New[string]()
	for _, e := range es {
		reasons.Insert(e.Reason)
	}
	return sets.List(reasons)
}

// messages returns the messages of the events with reason.
func (es profileEvents) messages(reason string) []string {
	var out []string
	for _, e := range es {
		if e.Reason == reason {
			out = append(out, strings.TrimSpace(e.text()))
		}
	}
	return out
}
