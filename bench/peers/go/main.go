// Command peer-go serves the fan-out resources Breakwater renders from
// go-control-plane's SnapshotCache and ADS server, so that the same load
// generator can drive both. Snapshots are read from files written by
// `python -m bench.peers.resources` (one line per resource: type URL, a tab,
// the base64 of the encoded Any); `POST /publish?index=N` on the HTTP port
// makes snapshot N the one every proxy of node cluster "edge" is served.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"hash"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
)

// byCluster puts every proxy of one node cluster in one snapshot, as Breakwater's groups do.
type byCluster struct{}

func (byCluster) ID(node *core.Node) string { return node.GetCluster() }

// load reads one snapshot file. Each type gets its own version, a hash of its
// resources' bytes, as Breakwater versions them: a change to the routes alone
// then sends RDS alone, instead of every type under one snapshot-wide version.
func load(path string) (*cachev3.Snapshot, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	resources := map[string][]types.Resource{}
	digests := map[string]hash.Hash{}
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	for scanner.Scan() {
		typeURL, encoded, found := strings.Cut(scanner.Text(), "\t")
		if !found {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		packed := &anypb.Any{}
		if err := proto.Unmarshal(raw, packed); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		message, err := packed.UnmarshalNew()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, typeURL, err)
		}
		resources[typeURL] = append(resources[typeURL], message)
		if digests[typeURL] == nil {
			digests[typeURL] = sha256.New()
		}
		digests[typeURL].Write(raw)
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	snapshot := &cachev3.Snapshot{}
	for typeURL, items := range resources {
		kind := cachev3.GetResponseType(typeURL)
		if kind == types.UnknownType {
			return nil, fmt.Errorf("%s: unknown resource type %s", path, typeURL)
		}
		version := hex.EncodeToString(digests[typeURL].Sum(nil))[:16]
		snapshot.Resources[kind] = cachev3.NewResources(version, items)
	}
	return snapshot, nil
}

func main() {
	adsAddress := flag.String("ads", "127.0.0.1:18000", "ADS listen address")
	httpAddress := flag.String("http", "127.0.0.1:18001", "publish hook listen address")
	dir := flag.String("dir", ".", "directory holding snapshot-N.txt")
	group := flag.String("group", "edge", "node cluster served")
	flag.Parse()

	paths, err := filepath.Glob(filepath.Join(*dir, "snapshot-*.txt"))
	if err != nil || len(paths) == 0 {
		log.Fatalf("no snapshot-N.txt in %s", *dir)
	}
	snapshots := make([]*cachev3.Snapshot, len(paths))
	for index := range paths {
		path := filepath.Join(*dir, fmt.Sprintf("snapshot-%d.txt", index))
		snapshot, err := load(path)
		if err != nil {
			log.Fatal(err)
		}
		if err := snapshot.Consistent(); err != nil {
			log.Fatalf("%s: %v", path, err)
		}
		snapshots[index] = snapshot
	}

	ctx := context.Background()
	cache := cachev3.NewSnapshotCache(true, byCluster{}, nil)
	if err := cache.SetSnapshot(ctx, *group, snapshots[0]); err != nil {
		log.Fatal(err)
	}
	server := serverv3.NewServer(ctx, cache, nil)
	grpcServer := grpc.NewServer(
		grpc.MaxConcurrentStreams(1<<20),
		grpc.MaxSendMsgSize(64<<20),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	discovery.RegisterAggregatedDiscoveryServiceServer(grpcServer, server)

	http.HandleFunc("/publish", func(w http.ResponseWriter, r *http.Request) {
		index, err := strconv.Atoi(r.URL.Query().Get("index"))
		if err != nil || index < 0 || index >= len(snapshots) {
			http.Error(w, "index must name a snapshot file", http.StatusBadRequest)
			return
		}
		if err := cache.SetSnapshot(ctx, *group, snapshots[index]); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "published", index)
	})
	http.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	go func() { log.Fatal(http.ListenAndServe(*httpAddress, nil)) }()

	listener, err := net.Listen("tcp", *adsAddress)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("ADS on %s, publish hook on %s, %d snapshots", *adsAddress, *httpAddress, len(snapshots))
	log.Fatal(grpcServer.Serve(listener))
}
