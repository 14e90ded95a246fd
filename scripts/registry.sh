# SPDX-License-Identifier: Apache-2.0
# Sourced by the demo and the benchmarks: a docker-registry on 127.0.0.1
# with its storage under a work directory, run as our child.
#   start_registry DIR   sets registry_pid and registry_port
#   stop_registry        stops and reaps it (safe to call twice)

# A TCP port on 127.0.0.1 that nothing answers on.
free_port() {
  local port=$((20000 + RANDOM % 20000))
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}

# write_registry_config DIR ADDR [LEVEL]: DIR/registry.yml, storage DIR/data.
# At level info the registry logs every request with its status and the
# bytes it sent (the benchmarks count them).
write_registry_config() {
  local dir=$1 addr=$2 level=${3:-error}
  mkdir -p "$dir"
  cat > "$dir/registry.yml" <<YAML
version: 0.1
log:
  level: $level
  accesslog:
    disabled: $([ "$level" = info ] && echo false || echo true)
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: $addr
YAML
}

start_registry() {
  local dir=$1
  registry_port=$(free_port)
  write_registry_config "$dir" "127.0.0.1:$registry_port"
  docker-registry serve "$dir/registry.yml" > "$dir/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$registry_port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "docker-registry did not start; its log:" >&2
  cat "$dir/registry.log" >&2
  return 1
}

stop_registry() {
  if [ -n "${registry_pid:-}" ]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
    registry_pid=""
  fi
}
