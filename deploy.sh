#!/usr/bin/env bash
# Deploys ollama-gate with Docker Compose behind Traefik, on a macvlan network. Run it from anywhere;
# it works in the directory it lives in (the git checkout). ./deploy.sh --help explains the flags.
set -euo pipefail

PROXY_NETWORK=proxy
MACVLAN_NETWORK=macvlan_local
CONTAINER=ollama-gate
IMAGE_UID=65532 # the image's non-root user ("nonroot" in distroless)
COMPOSE_FILES=(-f compose.yaml -f compose.traefik.yaml)

usage() {
  cat <<'EOF'
Usage: ./deploy.sh [options]

Deploys (or upgrades) ollama-gate: git pull, create Traefik's "proxy" network if missing, check that the
"macvlan_local" network exists (if not, print the command that creates it, and stop), build the image,
stop the old container, then `docker compose -f compose.yaml -f compose.traefik.yaml up -d --build` (or
docker-compose), wait for the health check, and show the useful commands.

Options:
  -n, --dry-run          Print every command that would change something instead of running it.
                         (Read-only checks such as `docker network inspect` still run.)
      --no-pull          Do not run `git pull` (deploy the checkout as it is).
      --parent IFACE     macvlan: the host's LAN interface, e.g. eth0         (env MACVLAN_PARENT)
      --subnet CIDR      macvlan: the LAN, e.g. 192.168.1.0/24                (env MACVLAN_SUBNET)
      --gateway IP       macvlan: the LAN's router, e.g. 192.168.1.1          (env MACVLAN_GATEWAY)
      --ip-range CIDR    macvlan: addresses Docker may give containers, outside the router's
                         DHCP pool, e.g. 192.168.1.240/28                     (env MACVLAN_IP_RANGE)
  -h, --help             Show this help.

Exit status: 0 deployed and healthy; 1 an error; 3 the macvlan network is missing (the command to create
it is printed); 4 the container did not become healthy (its last log lines are printed).

The macvlan values are used only to print the `docker network create -d macvlan ...` command when the
network is missing; `ip -4 route show default` shows the parent interface and the gateway.

The container runs as the owner of ./status (as uid 65532, the image's user, when that is root), and
everything in ./status is handed to that user (chown, with sudo when not root), so the gateway can write
its state and read an SSH key kept there. Set OLLAMA_GATE_UID and OLLAMA_GATE_GID to choose the user.

Needs a .env next to this script (cp .env.example .env) with SUBDOMINIO set: the host name Traefik
routes to the gateway.
EOF
}

die() {
  echo "deploy.sh: $*" >&2
  exit 1
}

DRY_RUN=0
PULL=1
PARENT=${MACVLAN_PARENT:-}
SUBNET=${MACVLAN_SUBNET:-}
GATEWAY=${MACVLAN_GATEWAY:-}
IP_RANGE=${MACVLAN_IP_RANGE:-}

while (($# > 0)); do
  case $1 in
    -n | --dry-run) DRY_RUN=1 ;;
    --no-pull) PULL=0 ;;
    --parent | --subnet | --gateway | --ip-range)
      (($# >= 2)) || die "$1 needs a value (see --help)"
      case $1 in
        --parent) PARENT=$2 ;;
        --subnet) SUBNET=$2 ;;
        --gateway) GATEWAY=$2 ;;
        --ip-range) IP_RANGE=$2 ;;
      esac
      shift
      ;;
    --parent=* | --subnet=* | --gateway=* | --ip-range=*)
      value=${1#*=}
      case $1 in
        --parent=*) PARENT=$value ;;
        --subnet=*) SUBNET=$value ;;
        --gateway=*) GATEWAY=$value ;;
        --ip-range=*) IP_RANGE=$value ;;
      esac
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
  shift
done

# A command as one line that can be pasted into a shell: plain words stay bare, others are single-quoted.
# (<PLACEHOLDERS> stay bare too: they are meant to be replaced before pasting.)
quote_cmd() {
  local arg out=""
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=,@%+\<\>-]+$ ]]; then
      out+=" $arg"
    else
      out+=" '${arg//\'/\'\\\'\'}'"
    fi
  done
  printf '%s\n' "${out# }"
}

# Prints a command, then runs it unless this is a dry run.
run() {
  if ((DRY_RUN)); then
    echo "[dry-run] $(quote_cmd "$@")"
  else
    echo "+ $(quote_cmd "$@")"
    "$@"
  fi
}

step() {
  echo "== $*"
}

cd "$(dirname "${BASH_SOURCE[0]}")"

((DRY_RUN)) && echo "Dry run: printing the commands that change something instead of running them."

command -v docker >/dev/null 2>&1 || die "docker is not installed (or not on PATH)"
[[ -f .env ]] || die "no .env in $(pwd): cp .env.example .env, then fill it in"

# Only SUBDOMINIO is read from .env; nothing else in it (secrets) is read or printed here.
subdomain=$(sed -n 's/^[[:space:]]*SUBDOMINIO[[:space:]]*=[[:space:]]*//p' .env | tail -n 1 | tr -d "\"'\r" | sed 's/[[:space:]]*$//')
[[ -n $subdomain ]] || die "SUBDOMINIO is empty in .env: set the host name Traefik routes to the gateway"

if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
else
  die "neither \`docker compose\` nor \`docker-compose\` is installed"
fi

if ((PULL)); then
  step "updating the checkout"
  run git pull --ff-only
fi

step "networks"
if docker network inspect "$PROXY_NETWORK" >/dev/null 2>&1; then
  echo "network $PROXY_NETWORK: present"
else
  echo "network $PROXY_NETWORK: missing, creating it (Traefik must join it too)"
  run docker network create "$PROXY_NETWORK"
fi

if docker network inspect "$MACVLAN_NETWORK" >/dev/null 2>&1; then
  echo "network $MACVLAN_NETWORK: present"
else
  create=(docker network create -d macvlan
    "--subnet=${SUBNET:-<SUBNET>}"
    "--gateway=${GATEWAY:-<GATEWAY>}"
    "--ip-range=${IP_RANGE:-<IP_RANGE>}"
    -o "parent=${PARENT:-<PARENT>}"
    "$MACVLAN_NETWORK")
  {
    echo "network $MACVLAN_NETWORK: missing. The gateway needs it to send the magic packet on the LAN."
    echo "Create it with (see README.md, \"Deployment\", also for the host-side shim):"
    echo
    echo "  $(quote_cmd "${create[@]}")"
    echo
    if [[ -z $PARENT || -z $SUBNET || -z $GATEWAY || -z $IP_RANGE ]]; then
      echo "Replace the <...> values (or pass --subnet, --gateway, --ip-range and --parent, see --help):"
      echo "  SUBNET    your LAN, e.g. 192.168.1.0/24"
      echo "  GATEWAY   your router, e.g. 192.168.1.1"
      echo "  IP_RANGE  addresses for containers, outside the router's DHCP pool, e.g. 192.168.1.240/28"
      echo "  PARENT    the host's LAN interface, e.g. eth0 (\`ip -4 route show default\` names it)"
    fi
    echo "Then run ./deploy.sh again."
  } >&2
  exit 3
fi

step "status directory"
[[ -d status ]] || run mkdir -p status
if [[ -n ${OLLAMA_GATE_UID:-} ]]; then
  uid=$OLLAMA_GATE_UID
  gid=${OLLAMA_GATE_GID:-$OLLAMA_GATE_UID}
  why="OLLAMA_GATE_UID and OLLAMA_GATE_GID"
elif [[ -d status ]] && [[ $(stat -c %u status) != 0 ]]; then
  uid=$(stat -c %u status)
  gid=$(stat -c %g status)
  why="the owner of ./status"
else
  uid=$IMAGE_UID
  gid=$IMAGE_UID
  why="the image's user, as root owns ./status"
fi
[[ $uid =~ ^[0-9]+$ && $gid =~ ^[0-9]+$ ]] || die "OLLAMA_GATE_UID and OLLAMA_GATE_GID must be numbers"
[[ $uid != 0 ]] || die "refusing to run the container as root (OLLAMA_GATE_UID=0)"
echo "container user: $uid:$gid ($why)"
# The gateway writes status.json there and may read its SSH key there: all of it must be the container user's.
if [[ ! -d status ]] || [[ -n $(find status \( ! -user "$uid" -o ! -group "$gid" \) -print -quit) ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    run chown -R "$uid:$gid" status
  else
    run sudo chown -R "$uid:$gid" status
  fi
fi
export OLLAMA_GATE_UID=$uid OLLAMA_GATE_GID=$gid

step "building the image (the old container keeps serving meanwhile)"
run "${COMPOSE[@]}" "${COMPOSE_FILES[@]}" build

step "replacing the old container"
if [[ -n $(docker ps -aq --filter "name=^/${CONTAINER}\$") ]]; then
  run docker stop "$CONTAINER"
  run docker rm "$CONTAINER"
else
  echo "no container named $CONTAINER"
fi

step "starting"
run "${COMPOSE[@]}" "${COMPOSE_FILES[@]}" up -d --build

step "status"
run "${COMPOSE[@]}" "${COMPOSE_FILES[@]}" ps
health_cmd=(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$CONTAINER")
if ((DRY_RUN)); then
  echo "[dry-run] $(quote_cmd "${health_cmd[@]}")   # repeated until it says healthy"
else
  health=unknown
  for _ in $(seq 1 45); do
    health=$("${health_cmd[@]}" 2>/dev/null || echo unknown)
    [[ $health == healthy || $health == unhealthy ]] && break
    sleep 2
  done
  echo "health: $health"
  if [[ $health != healthy ]]; then
    echo "The gateway is not healthy yet. Its log:" >&2
    docker logs --tail 30 "$CONTAINER" >&2 || true
    exit 4
  fi
fi

compose_cmd="${COMPOSE[*]} ${COMPOSE_FILES[*]}"
echo
if ((DRY_RUN)); then
  echo "Dry run done: nothing was changed. Once deployed: https://${subdomain}/"
else
  echo "ollama-gate is deployed: https://${subdomain}/  (GET / answers without a key)"
fi
cat <<EOF

Useful commands:
  logs:     docker logs -f $CONTAINER        (or: $compose_cmd logs -f)
  health:   docker inspect --format '{{json .State.Health}}' $CONTAINER
  check:    docker exec $CONTAINER /app/ollama-gate healthcheck
  status:   $compose_cmd ps
  restart:  $compose_cmd restart
  stop:     $compose_cmd down
  upgrade:  ./deploy.sh
EOF
