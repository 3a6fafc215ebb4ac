package differential

// knownDifference is a disagreement whose cause is understood and lies
// with the reference engine (a field it ignores, a rule it reads
// differently from the API's documentation). applies must be precise: it
// claims only the cases with that cause, so that any other disagreement
// still fails the run.
type knownDifference struct {
	// id is what testdata/regressions entries name in "known".
	id      string
	summary string
	applies func(c *cluster, q query, tierguard, reference verdict) bool
}

var knownDifferences = []knownDifference{
	{
		// The engine's NetworkPolicy evaluator returns a final verdict
		// for any pod that some NetworkPolicy selects, whatever the
		// policy's policyTypes: a pod selected only by an Ingress policy
		// has its egress accepted there (EvaluatePolicyDirection finds no
		// Egress policy and keeps its initial "true"), and the Baseline
		// tier is never reached for it; the same for ingress.
		//
		// The API makes isolation per direction. networking/v1: "a pod is
		// isolated for egress if there is any NetworkPolicy that both
		// selects the pod and has Egress in its policyTypes", and only
		// then does NetworkPolicy decide. network-policy-api's own guide
		// (site-src/blog/posts/Getting Started with ANP.md): "If a pod is
		// selected by a NetworkPolicy with egress rules, any egress
		// traffic from the pod ... will not be evaluated further against
		// BaselineAdminNetworkPolicy rules. The same applies for ingress
		// direction traffic." The v1beta1 Tier comment ("v1.NetworkPolicy
		// always makes a final decision for selected pods") is read
		// through that isolation. internal/evaluate is right.
		//
		// The filter is exact: the case is claimed only when the engine,
		// with its NetworkPolicy evaluator passing in directions no
		// policy isolates, gives internal/evaluate's answer.
		id:      "np-other-direction-skips-baseline",
		summary: "the reference skips the Baseline tier for a pod selected only by NetworkPolicies of the other direction",
		applies: func(c *cluster, q query, tierguard, _ verdict) bool {
			ref, err := newReference(c, isolationPerDirection)
			if err != nil {
				return false
			}
			v, _, err := ref.decide(q)
			return err == nil && v == tierguard
		},
	},
}

// explain names the known difference behind a disagreement, or "".
func explain(c *cluster, q query, tierguard, reference verdict) string {
	if tierguard == reference || *ignoreKnown {
		return ""
	}
	for _, k := range knownDifferences {
		if k.applies(c, q, tierguard, reference) {
			return k.id
		}
	}
	return ""
}
