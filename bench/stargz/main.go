// SPDX-License-Identifier: Apache-2.0
//
// containerd-stargz-grpc for the benchmark: the stargz snapshotter's
// filesystem and snapshotter packages (Debian's
// golang-github-containerd-stargz-snapshotter-dev) served to containerd as
// a proxy snapshotter over gRPC. Debian does not package the snapshotter's
// own daemon, and its `service` package needs the Kubernetes CRI API, which
// Debian does not ship either; this wires the same pieces without CRI
// credentials: registries are reached anonymously, over plain HTTP for the
// hosts given with --insecure.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/contrib/snapshotservice"
	"github.com/containerd/containerd/reference"
	"github.com/containerd/containerd/remotes/docker"
	stargzfs "github.com/containerd/stargz-snapshotter/fs"
	fsconfig "github.com/containerd/stargz-snapshotter/fs/config"
	"github.com/containerd/stargz-snapshotter/fs/layer"
	"github.com/containerd/stargz-snapshotter/fs/source"
	snbase "github.com/containerd/stargz-snapshotter/snapshot"
	"google.golang.org/grpc"
)

func main() {
	address := flag.String("address", "/run/containerd-stargz-grpc/containerd-stargz-grpc.sock", "gRPC socket")
	root := flag.String("root", "/var/lib/containerd-stargz-grpc", "state directory")
	insecure := flag.String("insecure", "", "comma-separated host:port list reached over plain HTTP")
	flag.Parse()

	plain := map[string]bool{}
	for _, h := range strings.Split(*insecure, ",") {
		if h != "" {
			plain[h] = true
		}
	}
	// The filesystem uses the client's Transport directly: it must be set.
	hosts := func(ref reference.Spec) ([]docker.RegistryHost, error) {
		host := ref.Hostname()
		scheme := "https"
		if plain[host] {
			scheme = "http"
		}
		return []docker.RegistryHost{{
			Client:       &http.Client{Transport: http.DefaultTransport},
			Host:         host,
			Scheme:       scheme,
			Path:         "/v2",
			Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
		}}, nil
	}

	ctx := context.Background()
	fs, err := stargzfs.NewFilesystem(filepath.Join(*root, "stargz"), fsconfig.Config{},
		stargzfs.WithGetSources(source.FromDefaultLabels(hosts)),
		stargzfs.WithOverlayOpaqueType(layer.OverlayOpaqueTrusted))
	if err != nil {
		log.Fatalf("stargz filesystem: %v", err)
	}
	sn, err := snbase.NewSnapshotter(ctx, filepath.Join(*root, "snapshotter"), fs, snbase.AsynchronousRemove)
	if err != nil {
		log.Fatalf("stargz snapshotter: %v", err)
	}
	rpc := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(rpc, snapshotservice.FromSnapshotter(sn))
	if err := os.MkdirAll(filepath.Dir(*address), 0700); err != nil {
		log.Fatalf("%v", err)
	}
	os.Remove(*address)
	l, err := net.Listen("unix", *address)
	if err != nil {
		log.Fatalf("listen %s: %v", *address, err)
	}
	done := make(chan os.Signal, 1)
	signal.Notify(done, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-done
		rpc.Stop()
	}()
	if err := rpc.Serve(l); err != nil {
		log.Printf("serve: %v", err)
	}
	if err := sn.Close(); err != nil {
		log.Printf("close: %v", err)
	}
}
