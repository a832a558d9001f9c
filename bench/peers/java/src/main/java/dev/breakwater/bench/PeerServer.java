package dev.breakwater.bench;

import com.google.protobuf.Any;
import com.sun.net.httpserver.HttpServer;
import io.envoyproxy.controlplane.cache.v3.SimpleCache;
import io.envoyproxy.controlplane.cache.v3.Snapshot;
import io.envoyproxy.controlplane.server.V3DiscoveryServer;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.endpoint.v3.ClusterLoadAssignment;
import io.envoyproxy.envoy.config.listener.v3.Listener;
import io.envoyproxy.envoy.config.route.v3.RouteConfiguration;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Serves the fan-out resources Breakwater renders from java-control-plane's SimpleCache and ADS
 * server, so the same load generator drives both. Snapshots come from {@code snapshot-N.txt}
 * (written by {@code python -m bench.peers.resources}: a type URL, a tab, the base64 of the
 * encoded Any, per line); {@code POST /publish?index=N} serves snapshot N to node cluster "edge".
 */
public final class PeerServer {
  private PeerServer() {}

  /**
   * One snapshot file. Each type gets its own version, a hash of its resources' bytes, as
   * Breakwater versions them: a change to the routes alone then sends RDS alone.
   */
  static Snapshot load(Path path) throws IOException, NoSuchAlgorithmException {
    Map<String, MessageDigest> digests = new HashMap<>();
    List<Cluster> clusters = new ArrayList<>();
    List<ClusterLoadAssignment> endpoints = new ArrayList<>();
    List<Listener> listeners = new ArrayList<>();
    List<RouteConfiguration> routes = new ArrayList<>();
    for (String line : Files.readAllLines(path, StandardCharsets.UTF_8)) {
      int tab = line.indexOf('\t');
      if (tab < 0) {
        continue;
      }
      byte[] raw = Base64.getDecoder().decode(line.substring(tab + 1));
      Any packed = Any.parseFrom(raw);
      MessageDigest digest = digests.get(packed.getTypeUrl());
      if (digest == null) {
        digest = MessageDigest.getInstance("SHA-256");
        digests.put(packed.getTypeUrl(), digest);
      }
      digest.update(raw);
      if (packed.is(Cluster.class)) {
        clusters.add(packed.unpack(Cluster.class));
      } else if (packed.is(ClusterLoadAssignment.class)) {
        endpoints.add(packed.unpack(ClusterLoadAssignment.class));
      } else if (packed.is(Listener.class)) {
        listeners.add(packed.unpack(Listener.class));
      } else if (packed.is(RouteConfiguration.class)) {
        routes.add(packed.unpack(RouteConfiguration.class));
      }
    }
    return Snapshot.create(
        clusters,
        version(digests, "envoy.config.cluster.v3.Cluster"),
        endpoints,
        version(digests, "envoy.config.endpoint.v3.ClusterLoadAssignment"),
        listeners,
        version(digests, "envoy.config.listener.v3.Listener"),
        routes,
        version(digests, "envoy.config.route.v3.RouteConfiguration"),
        List.of(),
        "none");
  }

  static String version(Map<String, MessageDigest> digests, String type) {
    MessageDigest digest = digests.get("type.googleapis.com/" + type);
    return digest == null ? "empty" : HexFormat.of().formatHex(digest.digest()).substring(0, 16);
  }

  public static void main(String[] args) throws Exception {
    String ads = "127.0.0.1:18000";
    String hook = "127.0.0.1:18001";
    Path dir = Path.of(".");
    String group = "edge";
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "-ads" -> ads = args[i + 1];
        case "-http" -> hook = args[i + 1];
        case "-dir" -> dir = Path.of(args[i + 1]);
        case "-group" -> group = args[i + 1];
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    List<Snapshot> snapshots = new ArrayList<>();
    for (int index = 0; Files.exists(dir.resolve("snapshot-" + index + ".txt")); index++) {
      snapshots.add(load(dir.resolve("snapshot-" + index + ".txt")));
    }
    if (snapshots.isEmpty()) {
      throw new IllegalStateException("no snapshot-N.txt in " + dir);
    }
    SimpleCache<String> cache = new SimpleCache<>(node -> node.getCluster());
    final String served = group;
    cache.setSnapshot(served, snapshots.get(0));
    V3DiscoveryServer discovery = new V3DiscoveryServer(cache);

    String[] adsParts = ads.split(":");
    Server grpc =
        NettyServerBuilder.forAddress(
                new InetSocketAddress(adsParts[0], Integer.parseInt(adsParts[1])))
            .addService(discovery.getAggregatedDiscoveryServiceImpl())
            .maxInboundMessageSize(4 << 20)
            .maxConcurrentCallsPerConnection(1 << 20)
            .permitKeepAliveTime(10, TimeUnit.SECONDS)
            .permitKeepAliveWithoutCalls(true)
            .build()
            .start();

    String[] hookParts = hook.split(":");
    HttpServer http =
        HttpServer.create(new InetSocketAddress(hookParts[0], Integer.parseInt(hookParts[1])), 0);
    http.createContext(
        "/publish",
        exchange -> {
          String query = exchange.getRequestURI().getQuery();
          int status = 200;
          String body;
          try {
            int index = Integer.parseInt(query.replaceFirst("^index=", ""));
            cache.setSnapshot(served, snapshots.get(index));
            body = "published " + index + "\n";
          } catch (RuntimeException e) {
            status = 400;
            body = "index must name a snapshot file\n";
          }
          byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
          exchange.sendResponseHeaders(status, bytes.length);
          exchange.getResponseBody().write(bytes);
          exchange.close();
        });
    http.createContext(
        "/ready",
        exchange -> {
          exchange.sendResponseHeaders(200, -1);
          exchange.close();
        });
    http.start();
    System.err.printf(
        "ADS on %s, publish hook on %s, %d snapshots%n", ads, hook, snapshots.size());
    grpc.awaitTermination();
  }
}
