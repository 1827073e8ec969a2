#!/usr/bin/env bash
# The local three-zone stack (compose.yaml): `compose.sh up` generates the
# secrets once and starts the stack, then waits until the load balancer
# serves a cluster of three ready peers; `compose.sh down [wipe]` stops it,
# keeping the volumes unless told to wipe. The Makefile's compose-up and
# compose-down call it after building the images.
set -euo pipefail
cd "$(dirname "$0")"
project=${FLOTILLA_PROJECT:-flotilla}
compose=(docker-compose -p "$project" -f compose.yaml)
secrets=${FLOTILLA_SECRETS:-.local}
flotilla=${FLOTILLA_BIN:-../bin/image/flotilla}

# secrets writes, once, the cluster secret, the admin password (for the
# user, mode 0600) and the users file holding only its bcrypt hash. The
# directory is 0700: the files the containers read through their bind
# mounts are 0644 so that the containers' uid can, and no other host user
# gets past the directory.
secrets() {
	umask 077
	mkdir -p "$secrets"
	chmod 700 "$secrets"
	if [ ! -s "$secrets/cluster.secret" ]; then
		head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n' >"$secrets/cluster.secret"
		echo >>"$secrets/cluster.secret"
	fi
	if [ ! -s "$secrets/admin.credentials" ] || [ ! -s "$secrets/api-users.json" ]; then
		password=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
		entry=$(printf '%s\n' "$password" | "$flotilla" auth hash --user admin --scope admin)
		printf '{"users": [%s]}\n' "$entry" >"$secrets/api-users.json"
		printf 'admin:%s\n' "$password" >"$secrets/admin.credentials"
		echo "admin credentials written to $secrets/admin.credentials"
	fi
	chmod 600 "$secrets/admin.credentials"
	chmod 644 "$secrets/cluster.secret" "$secrets/api-users.json"
}

# wait_ready polls the REST API through the load balancer until it lists
# three peers, every one of them up.
wait_ready() {
	local deadline=$((SECONDS + ${FLOTILLA_READY_TIMEOUT:-180}))
	until "$flotilla" health --api 127.0.0.1:9094 --api-credentials "$secrets/admin.credentials" >/dev/null 2>&1 &&
		[ "$("$flotilla" peers ls --json --api 127.0.0.1:9094 --api-credentials "$secrets/admin.credentials" 2>/dev/null | grep -c '"id"')" -eq 3 ]; do
		if [ $SECONDS -ge $deadline ]; then
			echo "the cluster is not ready after ${FLOTILLA_READY_TIMEOUT:-180}s; logs: docker-compose -p $project -f deploy/compose.yaml logs" >&2
			return 1
		fi
		sleep 0.5 # polling interval
	done
}

case "${1:-}" in
up)
	secrets
	start=$(date +%s%N)
	FLOTILLA_SECRETS=$secrets "${compose[@]}" up -d
	wait_ready
	took=$((($(date +%s%N) - start) / 1000000))
	shown=$secrets
	[[ $shown = /* ]] || shown=deploy/$shown
	printf 'ready in %d.%03d s: gateway http://127.0.0.1:8080/ipfs/, REST API http://127.0.0.1:9094 (ipfs-cluster-ctl --force-http --basic-auth "$(cat %s/admin.credentials)")\n' \
		$((took / 1000)) $((took % 1000)) "$shown"
	;;
down)
	if [ "${2:-}" = wipe ]; then
		FLOTILLA_SECRETS=$secrets "${compose[@]}" down --volumes
	else
		FLOTILLA_SECRETS=$secrets "${compose[@]}" down
	fi
	;;
*)
	echo "usage: $0 up | down [wipe]" >&2
	exit 2
	;;
esac
