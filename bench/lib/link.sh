# SPDX-License-Identifier: Apache-2.0
# Sourced by the benchmarks: a docker-registry behind a real, shaped link.
# The registry runs in a network namespace of its own on the namespace's
# loopback; a veth pair joins the namespace to ours, shaped with tc tbf at
# both ends; syspgo-delay-relay (bench/tools) in the namespace listens on
# the veth address and adds the round trip (netem is not in this kernel).
#
#   link_up PROFILE DIR RELAY   PROFILE 10g | 1g; DIR for config and logs;
#                               RELAY the syspgo-delay-relay binary.
#                               Sets link_registry (HOST:PORT to use),
#                               link_rate_bps, link_rtt_ms, link_log (the
#                               registry's access log).
#   link_down                   stops both and removes namespace and veth
#                               (safe to call twice; call it from a trap).
# LINK_RTT_MS overrides the round trip (default 0.5); LINK_WINDOW_KB the
# relay's largest window per direction (default 4096: new connections start
# at 10 segments and grow by slow start, as TCP over that round trip would).

link_up() {
  local profile=$1 dir=$2 relay=$3 rate burst
  case "$profile" in
    10g) rate=10gbit burst=16mb link_rate_bps=10000000000 ;;
    1g) rate=1gbit burst=2mb link_rate_bps=1000000000 ;;
    *) echo "link.sh: unknown profile '$profile' (10g or 1g)" >&2; return 2 ;;
  esac
  link_rtt_ms=${LINK_RTT_MS:-0.5}
  local n=$(( $$ % 200 + 20 ))
  link_ns=syspgo-reg-$$
  link_host_if=spg$$h
  local ns_if=spg$$r
  link_registry=10.213.$n.2:5000
  ip netns add "$link_ns"
  ip link add "$link_host_if" type veth peer name "$ns_if" netns "$link_ns"
  ip addr add "10.213.$n.1/24" dev "$link_host_if"
  ip link set "$link_host_if" up
  ip -n "$link_ns" addr add "10.213.$n.2/24" dev "$ns_if"
  ip -n "$link_ns" link set "$ns_if" up
  ip -n "$link_ns" link set lo up
  tc qdisc add dev "$link_host_if" root tbf rate "$rate" burst "$burst" latency 50ms
  tc -n "$link_ns" qdisc add dev "$ns_if" root tbf rate "$rate" burst "$burst" latency 50ms
  write_registry_config "$dir" 127.0.0.1:5001 info
  link_log=$dir/registry.log
  # nsenter, not `ip netns exec` (which remounts /sys): our children.
  nsenter --net="/var/run/netns/$link_ns" docker-registry serve "$dir/registry.yml" \
    > "$link_log" 2>&1 &
  link_registry_pid=$!
  nsenter --net="/var/run/netns/$link_ns" "$relay" --listen "$link_registry" \
    --target 127.0.0.1:5001 --rtt-ms "$link_rtt_ms" --window-kb "${LINK_WINDOW_KB:-4096}" > "$dir/relay.log" 2>&1 &
  link_relay_pid=$!
  for _ in $(seq 1 200); do
    curl -fs -o /dev/null "http://$link_registry/v2/" && return 0
    sleep 0.05
  done
  echo "link.sh: the registry behind the link did not answer; logs:" >&2
  cat "$link_log" "$dir/relay.log" >&2
  return 1
}

link_down() {
  local pid
  for pid in "${link_relay_pid:-}" "${link_registry_pid:-}"; do
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  link_relay_pid="" link_registry_pid=""
  if [ -n "${link_ns:-}" ]; then
    ip netns del "$link_ns" 2>/dev/null || true  # takes the veth pair with it
    ip link del "${link_host_if:-none}" 2>/dev/null || true
    link_ns=""
  fi
}
