# shellcheck shell=bash
# shellcheck disable=SC2154 # $dir, $pki and $bin are up.sh's and down.sh's (the sourcing scripts)
# A real node for the local control plane, at host level: containerd + runc (Debian), the CNI
# bridge and host-local plugins (Debian), kubelet and kube-proxy (built by build.sh from the
# pinned k8s.io/kubernetes), and the pause image made from Debian's catatonit. Sourced by up.sh
# (node_prepare before the API server starts, node_start after) and down.sh (node_stop).
#
# Why at host level and not kind: kind's nodes need `--privileged`, which fails on this VM (its
# capability bounding set lacks CAP_SYS_RESOURCE), plus a hand-made node image; see
# ../shared/research/real-cluster.md. A kubelet on the host runs the same pods, probes, cgroup
# limits, Services and ServiceAccount tokens with fewer moving parts.
#
# What it touches on the host, all undone by node_stop:
#   - bridge $NODE_BRIDGE with $NODE_IP/24 (the pod network, and the address the API server
#     advertises so that pods reach it through the `kubernetes` Service);
#   - iptables: kube-proxy's chains (removed with `kube-proxy --cleanup`), and chain
#     INFERWATCH-NODE: pods may talk to each other and to the host, never be forwarded
#     elsewhere; the API server's port answers only on loopback and the bridge;
#   - net.ipv4.ip_forward (restored to its earlier value);
#   - cgroup /inferwatch in every v1 controller (kubelet's --cgroup-root), removed;
#   - processes: containerd (own socket and state), its shims, kubelet, kube-proxy.
# Images live in containerd's root under $INFERWATCH_CACHE/node (kept, so a warm run imports
# only what changed).
#
# Registry pulls are pointed at 127.0.0.1:1 (refused at once) for every registry a manifest here
# could name: nothing on the node reaches a public registry, and a missing image shows as
# ErrImagePull / ImagePullBackOff as it would on a cluster without access.

NODE_NAME=inferwatch-node
NODE_BRIDGE=iwbr0
NODE_IP=10.245.0.1
NODE_POD_CIDR=10.245.0.0/24
# Pods of the e2e suite that must run for real tolerate this taint; everything else stays on the
# kwok nodes.
NODE_TAINT_KEY=inferwatch.io/real-node
NODE_RUN=/run/inferwatch-node

node_log() { echo "[node] $*" >&2; }
# The named network namespaces, sorted (CNI sandboxes are cni-<uuid>).
node_netns() { find /run/netns -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort; }

# Uses the sourcing script's $dir (state directory), $pki, $bin and, in node_certs and
# node_start, its functions cert, kubeconfig, start and wait_for.

# Certificates for the node's clients, signed by the cluster CA in $pki.
node_certs() {
  cert kubelet "system:node:$NODE_NAME" system:nodes
  cert kube-proxy system:kube-proxy
  # The API server's client certificate for kubelet's API (logs, exec, port-forward).
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  kubeconfig kubelet
  kubeconfig kube-proxy
  sed -i "s#https://127.0.0.1:#https://$NODE_IP:#" "$dir/kubelet.kubeconfig" "$dir/kube-proxy.kubeconfig"
}

# Before the API server starts: the bridge (its address must exist for pods to reach the API
# server) and the host firewall chain.
node_prepare() {
  local api_port="$1"
  # A node left by a run that was killed (another checkout's, or this one's before a reboot of
  # the shell): take it down first, whatever its state directory.
  if [ -d "$NODE_RUN" ]; then
    node_log "a node from an earlier run is still here; stopping it"
    node_stop
  fi
  mkdir -p "$NODE_RUN"
  sysctl -n net.ipv4.ip_forward >"$NODE_RUN/ip_forward.before"
  if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    ip link add "$NODE_BRIDGE" type bridge
    ip addr add "$NODE_IP/24" dev "$NODE_BRIDGE"
  fi
  ip link set "$NODE_BRIDGE" up
  sysctl -qw net.ipv4.ip_forward=1
  [ -w /proc/sys/net/bridge/bridge-nf-call-iptables ] && echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
  iptables -N INFERWATCH-NODE 2>/dev/null || iptables -F INFERWATCH-NODE
  iptables -A INFERWATCH-NODE -i "$NODE_BRIDGE" -o "$NODE_BRIDGE" -j ACCEPT
  iptables -A INFERWATCH-NODE -i "$NODE_BRIDGE" -j DROP
  iptables -A INFERWATCH-NODE -o "$NODE_BRIDGE" -j DROP
  iptables -C FORWARD -j INFERWATCH-NODE 2>/dev/null || iptables -I FORWARD 1 -j INFERWATCH-NODE
  iptables -N INFERWATCH-API 2>/dev/null || iptables -F INFERWATCH-API
  iptables -A INFERWATCH-API -i lo -j RETURN
  iptables -A INFERWATCH-API -i "$NODE_BRIDGE" -j RETURN
  iptables -A INFERWATCH-API -p tcp --dport "$api_port" -j DROP
  iptables -A INFERWATCH-API -p tcp --dport 10250 -j DROP
  iptables -C INPUT -j INFERWATCH-API 2>/dev/null || iptables -I INPUT 1 -j INFERWATCH-API
}

# Registry hosts that resolve to a refusal (containerd's hosts.toml).
node_registry_config() {
  local d="$1"
  for r in docker.io ghcr.io gcr.io registry.k8s.io quay.io inferwatch.local; do
    mkdir -p "$d/$r"
    printf 'server = "http://127.0.0.1:1"\n\n[host."http://127.0.0.1:1"]\n  capabilities = ["pull", "resolve"]\n' >"$d/$r/hosts.toml"
  done
}

# runc behind a wrapper that raises a negative oom_score_adj to 0. The kubelet asks -998 for
# every pod sandbox and -997 for Guaranteed containers; lowering the score needs
# CAP_SYS_RESOURCE, which this VM's capability bounding set lacks, so runc's init would die
# ("can't get final child's PID from pipe"). The only loss: those processes are not shielded
# from the kernel's OOM killer beyond the default. Everything else reaches runc unchanged.
node_runc_wrapper() {
  cat >"$1" <<'SH'
#!/bin/sh
# Written by e2e/cluster/node.sh: see node_runc_wrapper there.
bundle=""
prev=""
for a in "$@"; do
  [ "$prev" = --bundle ] && bundle="$a"
  prev="$a"
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
  jq -c 'if (.process.oomScoreAdj // 0) < 0 then .process.oomScoreAdj = 0 else . end' \
    "$bundle/config.json" >"$bundle/config.json.oom" && mv "$bundle/config.json.oom" "$bundle/config.json"
fi
exec runc "$@"
SH
  chmod +x "$1"
}

# After the API server is up: containerd, the images, kubelet, kube-proxy; waits for Ready.
#   node_start <pause image> <image archive>...
node_start() {
  local pause="$1"
  shift
  local nd="$dir/node" sock="$NODE_RUN/containerd.sock"
  local croot="$INFERWATCH_CACHE/node/containerd"
  mkdir -p "$nd/cni" "$nd/kubelet" "$nd/cni-ipam" "$croot"
  node_netns >"$NODE_RUN/netns.before"
  node_registry_config "$nd/certs.d"
  cat >"$nd/cni/10-inferwatch.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "inferwatch",
  "plugins": [
    {"type": "bridge", "bridge": "$NODE_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$nd/cni-ipam", "ranges": [[{"subnet": "$NODE_POD_CIDR", "gateway": "$NODE_IP", "rangeStart": "10.245.0.10"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  cat >"$nd/containerd.toml" <<TOML
version = 2
root = "$croot"
state = "$NODE_RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$NODE_RUN/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$INFERWATCH_CACHE/node/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$nd/runc"
        Root = "$NODE_RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$nd/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$nd/certs.d"
TOML
  node_runc_wrapper "$nd/runc"
  start containerd containerd --config "$nd/containerd.toml"
  wait_for containerd 30 ctr --address "$sock" version
  local archive
  for archive in "$@"; do
    ctr --address "$sock" -n k8s.io images import "$archive" >/dev/null
  done

  # kubelet's cgroup root, in every v1 controller (PID 1 is not systemd: cgroupfs driver).
  local c
  for c in /sys/fs/cgroup/*/; do
    [ "$c" = /sys/fs/cgroup/unified/ ] && continue
    mkdir -p "$c/inferwatch"
  done
  printf 'nameserver 127.0.0.1\noptions ndots:1\n' >"$nd/resolv.conf"
  cat >"$nd/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$sock
cgroupDriver: cgroupfs
cgroupRoot: /inferwatch
cgroupsPerQOS: true
failSwapOn: false
failCgroupV1: false
resolvConf: $nd/resolv.conf
clusterDomain: cluster.local
registerWithTaints:
  - {key: $NODE_TAINT_KEY, value: "true", effect: NoSchedule}
maxPods: 60
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2%}
evictionPressureTransitionPeriod: 10s
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
fileCheckFrequency: 20s
volumePluginDir: $nd/volume-plugins
protectKernelDefaults: false
makeIPTablesUtilChains: false
YAML
  start kubelet "$bin/kubelet" --config "$nd/kubelet.yaml" --kubeconfig "$dir/kubelet.kubeconfig" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --root-dir "$nd/kubelet" \
    --cert-dir "$nd/kubelet-pki" --node-labels "$NODE_TAINT_KEY=true" --v 1
  cat >"$nd/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $dir/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $NODE_POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [$NODE_IP/32]
iptables: {localhostNodePorts: false, masqueradeAll: false, syncPeriod: 10s, minSyncPeriod: 0s}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
  start kube-proxy "$bin/kube-proxy" --config "$nd/kube-proxy.yaml" --v 1
  wait_for "node $NODE_NAME Ready" 120 bash -c \
    "'$bin/kubectl' --kubeconfig '$dir/admin.kubeconfig' get node $NODE_NAME --no-headers 2>/dev/null | grep -q ' Ready '"
}

# Undo everything node_start and node_prepare did. Idempotent; also after a failed start.
node_stop() {
  local sock="$NODE_RUN/containerd.sock" c pid
  # The node's own processes, also when the pids file that listed them is gone.
  for pid in $(pgrep -f -- "--hostname-override $NODE_NAME" || true) \
    $(pgrep -f -- "kube-proxy --config .*/node/kube-proxy.yaml" || true) \
    $(pgrep -f -- "containerd --config .*/node/containerd.toml" || true); do
    kill -9 "$pid" 2>/dev/null || true
  done
  # Containers first: every process in kubelet's cgroup root, then the shims of our containerd.
  for c in /sys/fs/cgroup/*/inferwatch; do
    [ -d "$c" ] || continue
    find "$c" -name cgroup.procs -print0 2>/dev/null | xargs -0 -r cat | xargs -r kill -9 2>/dev/null || true
  done
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $sock" || true); do kill -9 "$pid" 2>/dev/null || true; done
  # Mounts under the node's directories (pod volumes, container root filesystems, sandboxes'
  # network namespaces made after node_start began), deepest first.
  awk -v a="$dir/node/" -v b="$NODE_RUN/" -v c="$INFERWATCH_CACHE/node/" \
    'index($2, a) == 1 || index($2, b) == 1 || index($2, c) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  if [ -f "$NODE_RUN/netns.before" ]; then
    # (grep finds none after a reboot: under pipefail that must not end the caller)
    comm -13 "$NODE_RUN/netns.before" <(node_netns) | { grep '^cni-' || true; } |
      while read -r ns; do ip netns delete "$ns" 2>/dev/null || true; done
  fi
  for c in /sys/fs/cgroup/*/inferwatch; do
    [ -d "$c" ] || continue
    find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  if [ -x "${bin:-}/kube-proxy" ]; then "$bin/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  # kubelet's own chain (it drops martian packets to 127/8 from outside); kube-proxy's cleanup
  # leaves it
  local ipt
  for ipt in iptables ip6tables; do
    while "$ipt" -D INPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
    while "$ipt" -D OUTPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
    "$ipt" -F KUBE-FIREWALL 2>/dev/null && "$ipt" -X KUBE-FIREWALL 2>/dev/null
  done
  while iptables -D FORWARD -j INFERWATCH-NODE 2>/dev/null; do :; done
  iptables -F INFERWATCH-NODE 2>/dev/null && iptables -X INFERWATCH-NODE 2>/dev/null
  while iptables -D INPUT -j INFERWATCH-API 2>/dev/null; do :; done
  iptables -F INFERWATCH-API 2>/dev/null && iptables -X INFERWATCH-API 2>/dev/null
  ip link delete "$NODE_BRIDGE" 2>/dev/null || true
  if [ -s "$NODE_RUN/ip_forward.before" ]; then sysctl -qw "net.ipv4.ip_forward=$(cat "$NODE_RUN/ip_forward.before")"; fi
  rm -rf "$NODE_RUN" "$dir/node"
}
