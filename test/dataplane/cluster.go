package dataplane

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/tierguard/tierguard/test/harness"
)

// NodeName is the Node object that stands for this machine.
const NodeName = "dp-node"

// PodName is the name of the one pod in each of the bed's namespaces.
const PodName = "probe"

// createNode creates the Node for this machine, Ready, with ip as its
// InternalIP: kube-router finds its node by name and enforces for the pods
// whose hostIP is that address.
func createNode(ctx context.Context, cs kubernetes.Interface, ip string) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: NodeName, Labels: map[string]string{corev1.LabelHostname: NodeName}},
		Spec:       corev1.NodeSpec{PodCIDR: podSubnet.String(), PodCIDRs: []string{podSubnet.String()}},
	}
	created, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node %s: %w", NodeName, err)
	}
	now := metav1.Now()
	created.Status = corev1.NodeStatus{
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: ip},
			{Type: corev1.NodeHostName, Address: NodeName},
		},
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "DataplaneBed",
			Message: "stands for the machine running the dataplane test bed", LastHeartbeatTime: now, LastTransitionTime: now,
		}},
	}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("set status of node %s: %w", NodeName, err)
	}
	return nil
}

// ensureNamespace creates a namespace with labels, or adds the labels to an
// existing one (kube-system).
func ensureNamespace(ctx context.Context, cs kubernetes.Interface, name string, labels map[string]string) error {
	ns, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
		_, err = cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", name, err)
	}
	if len(labels) == 0 {
		return nil
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	for k, v := range labels {
		ns.Labels[k] = v
	}
	if _, err := cs.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("label namespace %s: %w", name, err)
	}
	return nil
}

// createPod creates the API-only pod of pn's namespace, bound to the node,
// and patches its status to Running with its addresses, as a kubelet would:
// a policy engine enforces only for running pods with a podIP on its node.
func createPod(ctx context.Context, cs kubernetes.Interface, pn PodNet, labels map[string]string, hostIP string) error {
	// The ServiceAccount admission plugin refuses pods until the namespace's
	// default ServiceAccount exists (kube-controller-manager creates it).
	err := harness.WaitFor(ctx, "the default ServiceAccount of "+pn.Namespace, time.Minute, nil, func(ctx context.Context) error {
		_, err := cs.CoreV1().ServiceAccounts(pn.Namespace).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	if err != nil {
		return err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: PodName, Namespace: pn.Namespace, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName:                      NodeName,
			AutomountServiceAccountToken:  ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			// Never pulled: no kubelet runs. The probe runs in the pod's
			// network namespace instead.
			Containers: []corev1.Container{{Name: "probe", Image: "tierguard.invalid/dataplane-probe:none"}},
		},
	}
	created, err := cs.CoreV1().Pods(pn.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create pod %s/%s: %w", pn.Namespace, PodName, err)
	}
	now := metav1.Now()
	ready := func(t corev1.PodConditionType) corev1.PodCondition {
		return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now}
	}
	created.Status = corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    hostIP,
		HostIPs:   []corev1.HostIP{{IP: hostIP}},
		PodIP:     pn.IP,
		PodIPs:    []corev1.PodIP{{IP: pn.IP}},
		StartTime: &now,
		Conditions: []corev1.PodCondition{
			ready(corev1.PodScheduled), ready(corev1.PodInitialized), ready(corev1.ContainersReady), ready(corev1.PodReady),
		},
	}
	if _, err := cs.CoreV1().Pods(pn.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("set status of pod %s/%s: %w", pn.Namespace, PodName, err)
	}
	return nil
}

// createObjects creates the node and, in each namespace, the pod.
func (b *Bed) createObjects(ctx context.Context) error {
	ip, err := nodeAddress()
	if err != nil {
		return err
	}
	if err := createNode(ctx, b.Clientset, ip); err != nil {
		return err
	}
	for i, ns := range b.opts.Namespaces {
		if err := ensureNamespace(ctx, b.Clientset, ns.Name, ns.Labels); err != nil {
			return err
		}
		pn := podNetFor(i, ns.Name)
		if err := createPod(ctx, b.Clientset, pn, ns.PodLabels, ip); err != nil {
			return err
		}
	}
	return nil
}
