package main

import (
	"fmt"
	"runtime/debug"
)

// printVersion prints the versions of the Kubernetes and etcd modules linked into this binary.
func printVersion() {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Println("unknown")
		return
	}
	for _, dep := range info.Deps {
		switch dep.Path {
		case "k8s.io/kubernetes", "go.etcd.io/etcd/server/v3":
			fmt.Printf("%s %s\n", dep.Path, dep.Version)
		}
	}
	fmt.Printf("go %s\n", info.GoVersion)
}
