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
#
# LINK_ACCESS=tls-token makes it a registry as the public ones are: HTTPS
# (a certificate for its address, signed by a CA made here) with token
# authentication (`auth: token`, as Docker Hub and distribution do it),
# the token service (bench/lib/token_server.py) behind the same link on
# its own port, so that a token costs what it costs there. It sets
# link_certs_dir (containerd's hosts directory: <host>/ca.crt for the
# registry and the token service), link_ca (the CA file), link_authfile
# (a docker config.json with the login), link_user, link_password and
# link_token (HOST:PORT). The default, plain, is HTTP with no auth.

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
  link_access=${LINK_ACCESS:-plain}
  case "$link_access" in
    plain) ;;
    tls-token) link_tls_token_setup "$dir" "10.213.$n.2" || return 1 ;;
    *) echo "link.sh: unknown LINK_ACCESS '$link_access' (plain or tls-token)" >&2; return 2 ;;
  esac
  link_log=$dir/registry.log
  # nsenter, not `ip netns exec` (which remounts /sys): our children.
  nsenter --net="/var/run/netns/$link_ns" docker-registry serve "$dir/registry.yml" \
    > "$link_log" 2>&1 &
  link_registry_pid=$!
  nsenter --net="/var/run/netns/$link_ns" "$relay" --listen "$link_registry" \
    --target 127.0.0.1:5001 --rtt-ms "$link_rtt_ms" --window-kb "${LINK_WINDOW_KB:-4096}" > "$dir/relay.log" 2>&1 &
  link_relay_pid=$!
  local probe=(curl -fs -o /dev/null "http://$link_registry/v2/")
  if [ "$link_access" = tls-token ]; then
    nsenter --net="/var/run/netns/$link_ns" \
      /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/token_server.py" --listen 127.0.0.1:5003 \
      --cert "$dir/tls/server.crt" --key "$dir/tls/server.key" \
      --signing-key "$dir/tls/token.key" --issuer syspgo-bench-token --service syspgo-bench \
      --user "$link_user" --password "$link_password" > "$dir/token.log" 2>&1 &
    link_token_pid=$!
    nsenter --net="/var/run/netns/$link_ns" "$relay" --listen "$link_token" \
      --target 127.0.0.1:5003 --rtt-ms "$link_rtt_ms" --window-kb "${LINK_WINDOW_KB:-4096}" \
      > "$dir/token-relay.log" 2>&1 &
    link_token_relay_pid=$!
    # Asked for a token with the login: 200 from the token service.
    probe=(curl -fs -o /dev/null --cacert "$link_ca" -u "$link_user:$link_password"
           "https://$link_token/token?service=syspgo-bench&scope=repository:probe:pull")
  fi
  for _ in $(seq 1 200); do
    "${probe[@]}" && return 0
    sleep 0.05
  done
  echo "link.sh: the registry behind the link did not answer; logs:" >&2
  cat "$link_log" "$dir/relay.log" >&2
  [ -f "$dir/token.log" ] && cat "$dir/token.log" "$dir/token-relay.log" >&2
  return 1
}

# The certificates, the token service's signing key, the registry's TLS
# and token configuration, the hosts directory and the login.
link_tls_token_setup() {
  local dir=$1 ip=$2 tls=$1/tls
  rm -rf "$tls" "$dir/certs.d" "$dir/auth"
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tls/ca.key" -out "$tls/ca.crt" -days 2 \
    -subj /CN=syspgo-bench-ca 2> /dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$tls/server.key" -out "$tls/server.csr" \
    -subj "/CN=$ip" 2> /dev/null
  printf 'subjectAltName=IP:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$ip" \
    > "$tls/server.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
    -CAcreateserial -out "$tls/server.crt" -days 2 -extfile "$tls/server.ext" 2> /dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tls/token.key" -out "$tls/token.crt" \
    -days 2 -subj /CN=syspgo-bench-token 2> /dev/null
  link_ca=$tls/ca.crt
  link_token=$ip:5002
  link_user=bench
  link_password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  cat >> "$dir/registry.yml" <<YAML
  tls:
    certificate: $tls/server.crt
    key: $tls/server.key
auth:
  token:
    realm: https://$link_token/token
    service: syspgo-bench
    issuer: syspgo-bench-token
    rootcertbundle: $tls/token.crt
YAML
  link_certs_dir=$dir/certs.d
  local host
  for host in "$ip:5000" "$link_token"; do
    mkdir -p "$link_certs_dir/$host"
    cp "$link_ca" "$link_certs_dir/$host/ca.crt"
  done
  link_authfile=$dir/auth/config.json
  mkdir -p "$dir/auth"
  printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$ip:5000" \
    "$(printf '%s:%s' "$link_user" "$link_password" | base64 -w0)" > "$link_authfile"
  chmod 600 "$link_authfile"
}

link_down() {
  local pid
  for pid in "${link_relay_pid:-}" "${link_registry_pid:-}" "${link_token_relay_pid:-}" \
    "${link_token_pid:-}"; do
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  link_relay_pid="" link_registry_pid="" link_token_relay_pid="" link_token_pid=""
  if [ -n "${link_ns:-}" ]; then
    ip netns del "$link_ns" 2>/dev/null || true  # takes the veth pair with it
    ip link del "${link_host_if:-none}" 2>/dev/null || true
    link_ns=""
  fi
}
