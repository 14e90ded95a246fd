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
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
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

// The registry as syspgo's configuration describes it (node/registry_config.h),
// read from stdin: endpoints in order (mirrors, then the registry), each with
// its TLS settings, capabilities, headers and credentials.
type hostConfig struct {
	Origin           string   `json:"origin"`
	Path             string   `json:"path"`
	Capabilities     []string `json:"capabilities"`
	CaPem            string   `json:"ca_pem"`
	ClientCert       string   `json:"client_cert"`
	ClientKey        string   `json:"client_key"`
	SkipVerify       bool     `json:"skip_verify"`
	Headers          []string `json:"headers"`
	ConfiguredBy     string   `json:"configured_by"`
	Username         string   `json:"username"`
	Secret           string   `json:"secret"`
	CredentialsFrom  string   `json:"credentials_from"`
	CredentialsError string   `json:"credentials_error"`
}

type registryConfig struct {
	Registry string       `json:"registry"`
	Hosts    []hostConfig `json:"hosts"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "syspgo: "+format+"\n", args...)
	os.Exit(125)
}

// One containerd RegistryHost per endpoint, with its own TLS client and
// authorizer (credentials are per endpoint: a mirror never sees the
// registry's login).
func registryHosts(cfg registryConfig) ([]docker.RegistryHost, error) {
	var out []docker.RegistryHost
	for _, h := range cfg.Hosts {
		u, err := url.Parse(h.Origin)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("bad endpoint origin %q", h.Origin)
		}
		tlsConfig := &tls.Config{InsecureSkipVerify: h.SkipVerify}
		if h.CaPem != "" {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM([]byte(h.CaPem)) {
				return nil, fmt.Errorf("%s: no certificate in the CA configured by %s", u.Host, h.ConfiguredBy)
			}
			tlsConfig.RootCAs = pool
		}
		if h.ClientCert != "" {
			key := h.ClientKey
			if key == "" {
				key = h.ClientCert
			}
			pair, err := tls.LoadX509KeyPair(h.ClientCert, key)
			if err != nil {
				return nil, fmt.Errorf("%s: client certificate %s: %v", u.Host, h.ClientCert, err)
			}
			tlsConfig.Certificates = []tls.Certificate{pair}
		}
		client := &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			TLSClientConfig:       tlsConfig,
			ResponseHeaderTimeout: 30 * time.Second,
		}}
		entry := h
		creds := func(string) (string, string, error) {
			if entry.CredentialsError != "" {
				return "", "", fmt.Errorf("%s", entry.CredentialsError)
			}
			return entry.Username, entry.Secret, nil
		}
		header := http.Header{}
		for _, line := range h.Headers {
			name, value, ok := strings.Cut(line, ":")
			if ok {
				header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
			}
		}
		var caps docker.HostCapabilities
		for _, c := range h.Capabilities {
			switch c {
			case "pull":
				caps |= docker.HostCapabilityPull
			case "resolve":
				caps |= docker.HostCapabilityResolve
			case "push":
				caps |= docker.HostCapabilityPush
			}
		}
		out = append(out, docker.RegistryHost{
			Client: client,
			Authorizer: docker.NewDockerAuthorizer(docker.WithAuthCreds(creds),
				docker.WithAuthClient(&http.Client{Transport: client.Transport, Timeout: 30 * time.Second}),
				docker.WithAuthHeader(header)),
			Host:         u.Host,
			Scheme:       u.Scheme,
			Path:         h.Path,
			Capabilities: caps,
			Header:       header,
		})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no endpoint for %s", cfg.Registry)
	}
	// The registry itself is asked last whatever hosts.toml says of its
	// capabilities, as syspgo does.
	out[len(out)-1].Capabilities |= docker.HostCapabilityPull | docker.HostCapabilityResolve
	return out, nil
}

func main() {
	address := flag.String("address", "/run/containerd/containerd.sock", "containerd's socket")
	namespace := flag.String("namespace", "default", "containerd namespace")
	snapshotter := flag.String("snapshotter", "syspgo", "snapshotter name")
	fromStdin := flag.Bool("registry-config-stdin", false, "read the registry configuration (JSON) from stdin")
	timeout := flag.Duration("timeout", 10*time.Minute, "the whole pull")
	flag.Parse()
	if flag.NArg() != 1 || !*fromStdin {
		fmt.Fprintln(os.Stderr, "usage: syspgo-containerd-pull --registry-config-stdin [options] IMAGE < config.json\n"+
			"(run by `syspgo pull --containerd-address`, which writes the configuration)")
		os.Exit(2)
	}
	ref := flag.Arg(0)
	var cfg registryConfig
	data, err := io.ReadAll(io.LimitReader(os.Stdin, 64<<20))
	if err != nil {
		fail("reading the registry configuration: %v", err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		fail("the registry configuration: %v", err)
	}
	hosts, err := registryHosts(cfg)
	if err != nil {
		fail("%v", err)
	}
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), *namespace), *timeout)
	defer cancel()
	client, err := containerd.New(*address, containerd.WithTimeout(10*time.Second))
	if err != nil {
		fail("connecting to containerd at %s: %v", *address, err)
	}
	defer client.Close()
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: func(host string) ([]docker.RegistryHost, error) {
			if host != cfg.Registry {
				return nil, fmt.Errorf("no configuration for registry %s (configured: %s)", host, cfg.Registry)
			}
			return hosts, nil
		},
	})
	start := time.Now()
	img, err := client.Pull(ctx, ref,
		containerd.WithResolver(resolver),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(*snapshotter),
		containerd.WithImageHandlerWrapper(withSnapshotLabels(ref)))
	if err != nil {
		fail("pulling %s into containerd: %v", ref, err)
	}
	fmt.Fprintf(os.Stderr, "syspgo: pulled %s (%s) into containerd (namespace %s, snapshotter %s) in %.3f s\n",
		img.Name(), img.Target().Digest, *namespace, *snapshotter, time.Since(start).Seconds())
}
