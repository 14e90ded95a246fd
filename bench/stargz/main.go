// SPDX-License-Identifier: Apache-2.0
//
// containerd-stargz-grpc for the benchmark: the stargz snapshotter's
// filesystem and snapshotter packages (Debian's
// golang-github-containerd-stargz-snapshotter-dev) served to containerd as
// a proxy snapshotter over gRPC. Debian does not package the snapshotter's
// own daemon, and its `service` package needs the Kubernetes CRI API, which
// Debian does not ship either; this wires the same pieces without CRI:
// registries are reached over plain HTTP for the hosts given with
// --insecure, else over HTTPS with the CAs (and hosts.toml) of containerd's
// hosts directory --hosts-dir and the logins of the docker config.json
// --authfile, one resolver per host for the daemon's life (its token
// cache shared by every layer), as the stargz daemon's own resolver keeps.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/contrib/snapshotservice"
	"github.com/containerd/containerd/reference"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/containerd/containerd/remotes/docker/config"
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
	hostsDir := flag.String("hosts-dir", "", "containerd's hosts directory: <host>/ca.crt, hosts.toml")
	authfile := flag.String("authfile", "", "docker config.json with the registries' logins")
	flag.Parse()

	plain := map[string]bool{}
	for _, h := range strings.Split(*insecure, ",") {
		if h != "" {
			plain[h] = true
		}
	}
	logins, err := loadLogins(*authfile)
	if err != nil {
		log.Fatalf("%v", err)
	}
	var mu sync.Mutex
	resolved := map[string][]docker.RegistryHost{}
	// The filesystem uses the client's Transport directly: it must be set.
	hosts := func(ref reference.Spec) ([]docker.RegistryHost, error) {
		host := ref.Hostname()
		if plain[host] || (*hostsDir == "" && *authfile == "") {
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
		mu.Lock()
		defer mu.Unlock()
		if h, ok := resolved[host]; ok {
			return h, nil
		}
		opts := config.HostOptions{
			Credentials: func(h string) (string, string, error) {
				l := logins[h]
				return l[0], l[1], nil
			},
		}
		if *hostsDir != "" {
			opts.HostDir = config.HostDirFromRoot(*hostsDir)
		}
		h, err := config.ConfigureHosts(context.Background(), opts)(host)
		if err != nil {
			return nil, err
		}
		resolved[host] = h
		return h, nil
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

// loadLogins reads a docker config.json's "auths": host -> {user, password}.
func loadLogins(path string) (map[string][2]string, error) {
	out := map[string][2]string{}
	if path == "" {
		return out, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	for host, a := range cfg.Auths {
		raw, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return nil, fmt.Errorf("%s: the login of %s: %v", path, host, err)
		}
		user, password, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, fmt.Errorf("%s: the login of %s is not user:password", path, host)
		}
		out[host] = [2]string{user, password}
	}
	return out, nil
}
