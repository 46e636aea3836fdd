package main

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as upstream's mains
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client metrics, as upstream's mains
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream's mains
	kcm "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// components are the node and control-plane programs this binary also is (multi-call, as
// hyperkube was): "controlplane kubelet ARGS" runs what upstream's cmd/kubelet runs. "up --node"
// starts each as its own process.
var components = map[string]func() *cobra.Command{
	"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
	"kube-proxy":              proxy.NewProxyCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kube-controller-manager": kcm.NewControllerManagerCommand,
}

// runComponent runs the named component's upstream command with args, as its main does.
func runComponent(name string, args []string) int {
	command := components[name]()
	command.SetArgs(args)
	return cli.Run(command)
}
