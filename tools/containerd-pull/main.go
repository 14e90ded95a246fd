// SPDX-License-Identifier: Apache-2.0
//
// syspgo-containerd-pull: `syspgo pull --containerd-address` (docs/containerd.md).
// Pulls an image into containerd with containerd's own client (Debian's
// golang-github-containerd-containerd-dev), unpacking it through a remote
// snapshotter with the labels Kubernetes' CRI plugin puts on each layer
// (containerd.io/snapshot/cri.*): the snapshotter then commits layers it
// serves from a runtime image without containerd fetching them. containerd
// 1.6's `ctr image pull` sets no such labels (stargz ships `ctr-remote
// image rpull` for the same reason).
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/remotes/docker"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	labelImageRef       = "containerd.io/snapshot/cri.image-ref"
	labelManifestDigest = "containerd.io/snapshot/cri.manifest-digest"
	labelLayerDigest    = "containerd.io/snapshot/cri.layer-digest"
	labelImageLayers    = "containerd.io/snapshot/cri.image-layers"
	// containerd limits a label to 4096 bytes (key and value).
	maxLabelValue = 4000
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// The layers from this one up, comma-separated, as CRI writes them.
func layerList(layers []ocispec.Descriptor) string {
	var out []string
	size := 0
	for _, l := range layers {
		d := l.Digest.String()
		if size+len(d)+1 > maxLabelValue {
			break
		}
		out = append(out, d)
		size += len(d) + 1
	}
	return strings.Join(out, ",")
}

// Adds the CRI labels to each layer of a manifest.
func withSnapshotLabels(ref string) func(images.Handler) images.Handler {
	return func(f images.Handler) images.Handler {
		return images.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
			children, err := f.Handle(ctx, desc)
			if err != nil {
				return nil, err
			}
			switch desc.MediaType {
			case ocispec.MediaTypeImageManifest, images.MediaTypeDockerSchema2Manifest:
				var layers []ocispec.Descriptor
				for _, c := range children {
					if images.IsLayerType(c.MediaType) {
						layers = append(layers, c)
					}
				}
				n := 0
				for i := range children {
					c := &children[i]
					if !images.IsLayerType(c.MediaType) {
						continue
					}
					if c.Annotations == nil {
						c.Annotations = map[string]string{}
					}
					c.Annotations[labelImageRef] = ref
					c.Annotations[labelManifestDigest] = desc.Digest.String()
					c.Annotations[labelLayerDigest] = c.Digest.String()
					c.Annotations[labelImageLayers] = layerList(layers[n:])
					n++
				}
			}
			return children, nil
		})
	}
}

// Credentials from a docker config.json ("auths": {"host": {"auth": b64}}).
func credentials(path string) func(string) (string, string, error) {
	type entry struct {
		Auth     string `json:"auth"`
		Username string `json:"username"`
		Password string `json:"password"`
	}
	var cfg struct {
		Auths map[string]entry `json:"auths"`
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "syspgo: %v\n", err)
			os.Exit(125)
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			fmt.Fprintf(os.Stderr, "syspgo: %s: %v\n", path, err)
			os.Exit(125)
		}
	}
	return func(host string) (string, string, error) {
		for key, e := range cfg.Auths {
			k := strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
			k = strings.TrimSuffix(strings.TrimSuffix(k, "/"), "/v1")
			if k != host {
				continue
			}
			if e.Username != "" {
				return e.Username, e.Password, nil
			}
			raw, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return "", "", fmt.Errorf("credentials for %s in %s: %v", host, path, err)
			}
			user, pass, _ := strings.Cut(string(raw), ":")
			return user, pass, nil
		}
		return "", "", nil
	}
}

func main() {
	address := flag.String("address", "/run/containerd/containerd.sock", "containerd's socket")
	namespace := flag.String("namespace", "default", "containerd namespace")
	snapshotter := flag.String("snapshotter", "syspgo", "snapshotter name")
	authfile := flag.String("authfile", "", "docker config.json with credentials")
	timeout := flag.Duration("timeout", 10*time.Minute, "the whole pull")
	var plain stringList
	flag.Var(&plain, "plain-http", "registry host reached over plain HTTP (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: syspgo-containerd-pull [options] IMAGE")
		os.Exit(2)
	}
	ref := flag.Arg(0)
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), *namespace), *timeout)
	defer cancel()
	client, err := containerd.New(*address, containerd.WithTimeout(10*time.Second))
	if err != nil {
		fmt.Fprintf(os.Stderr, "syspgo: connecting to containerd at %s: %v\n", *address, err)
		os.Exit(125)
	}
	defer client.Close()
	plainHosts := map[string]bool{}
	for _, h := range plain {
		plainHosts[h] = true
	}
	auth := docker.NewDockerAuthorizer(docker.WithAuthCreds(credentials(*authfile)),
		docker.WithAuthClient(&http.Client{Timeout: 30 * time.Second}))
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(
			docker.WithAuthorizer(auth),
			docker.WithPlainHTTP(func(host string) (bool, error) {
				if plainHosts[host] {
					return true, nil
				}
				return docker.MatchLocalhost(host)
			}),
			docker.WithClient(&http.Client{Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				ResponseHeaderTimeout: 30 * time.Second,
			}}),
		),
	})
	start := time.Now()
	img, err := client.Pull(ctx, ref,
		containerd.WithResolver(resolver),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(*snapshotter),
		containerd.WithImageHandlerWrapper(withSnapshotLabels(ref)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "syspgo: pulling %s into containerd: %v\n", ref, err)
		os.Exit(125)
	}
	fmt.Fprintf(os.Stderr, "syspgo: pulled %s (%s) into containerd (namespace %s, snapshotter %s) in %.3f s\n",
		img.Name(), img.Target().Digest, *namespace, *snapshotter, time.Since(start).Seconds())
}
