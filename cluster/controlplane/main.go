// Command controlplane runs a local Kubernetes control plane for the module's tests and demo:
// embedded etcd, kube-apiserver and the kube-controller-manager controllers that a namespace
// lifecycle needs, all in one process on 127.0.0.1. It also carries kubectl from the same
// module graph. See README.md.
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

const usage = `usage:
  controlplane up [flags]     run etcd + kube-apiserver + controllers until SIGTERM/SIGINT
  controlplane kubectl ...    kubectl, built from the same Kubernetes release
  controlplane version        print the Kubernetes and etcd versions built in
  controlplane kubelet|kube-proxy|kube-scheduler|kube-controller-manager ...
                              that component, as its upstream command (up --node runs them)

Run "controlplane up --help" for the flags of up.`

func main() {
	// Multi-call: a symlink named kubectl runs kubectl directly.
	if filepath.Base(os.Args[0]) == "kubectl" {
		os.Exit(runKubectl(os.Args[1:]))
	}
	if len(os.Args) >= 2 && components[os.Args[1]] != nil {
		os.Exit(runComponent(os.Args[1], os.Args[2:]))
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(exitUsage)
	}
	switch os.Args[1] {
	case "up":
		os.Exit(runUp(os.Args[2:]))
	case "kubectl":
		os.Exit(runKubectl(os.Args[2:]))
	case "version":
		printVersion()
	case "-h", "--help", "help":
		fmt.Println(usage)
	default:
		fmt.Fprintf(os.Stderr, "controlplane: unknown command %q\n%s\n", os.Args[1], usage)
		os.Exit(exitUsage)
	}
}
