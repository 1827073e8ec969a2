#!/bin/bash
# Bulk import: three daemons on loopback (CIDs without content, as in
# BenchmarkPinMany), N pins imported through a follower with
# `flotilla pin add --from`, then the time to the first byte and the whole
# of GET /pins, and the daemons' RSS. make bench-bulk [N=1000000].
set -e
N=${N:-1000000}
BIN=${BIN:-bin/flotilla}
D=$(mktemp -d)
trap 'kill $(cat $D/*.pid 2>/dev/null) 2>/dev/null; wait 2>/dev/null; rm -rf $D' EXIT
head -c 32 /dev/urandom | xxd -p -c 64 > $D/secret
start() {
  $BIN --data $D/$1 --log-level warn daemon --rpc-listen 127.0.0.1:0 --ops-listen 127.0.0.1:0 --gateway-listen 127.0.0.1:0 \
    --api-listen 127.0.0.1:0 --pinsvc-listen 127.0.0.1:0 --swarm-listen /ip4/127.0.0.1/tcp/0 --dht off --provide none --nat-portmap=false \
    --cluster-listen 127.0.0.1:0 --cluster-secret-file $D/secret --zone $2 --peername $1 --replication-min 3 --replication-max 3 $3 > $D/$1.log 2>&1 &
  echo $! > $D/$1.pid
}
field() { python3 -c "import json;print(json.load(open('$D/$1/listen.json'))['$2'])"; }
waitready() { for i in $(seq 150); do ops=$(field $1 ops 2>/dev/null) && curl -sf http://$ops/ready >/dev/null && return 0; sleep 0.2; done; echo "$1 not ready"; cat $D/$1.log; exit 1; }
start n1 z1 ""; waitready n1
join=$(field n1 cluster)
start n2 z2 "--join $join"; waitready n2
start n3 z3 "--join $join"; waitready n3
python3 - <<PY
import hashlib,base64
with open('$D/cids','w') as f:
    for i in range($N):
        b=bytes([1,0x55,0x12,0x20])+hashlib.sha256(b'bulk%d'%i).digest()
        f.write('b'+base64.b32encode(b).decode().lower().rstrip('=')+'\n')
PY
pids="$(cat $D/n1.pid) $(cat $D/n2.pid) $(cat $D/n3.pid)"
t0=$(date +%s.%N)
$BIN --data $D/n2 pin add --from $D/cids > $D/import.out
t1=$(date +%s.%N)
echo "import of $N pins through a follower: $(python3 -c "print('%.1f s, %.0f pins/s' % ($t1-$t0, $N/($t1-$t0)))")"; tail -2 $D/import.out
for p in $pids; do echo "RSS $(awk '/VmRSS/{print $2/1024 " MiB"}' /proc/$p/status)"; done
api=$(field n1 api)
for i in 1 2; do curl -s -o /dev/null -w "GET /pins: first byte %{time_starttransfer} s, total %{time_total} s, %{size_download} bytes\n" "http://$api/pins"; done
for p in $pids; do echo "RSS after status $(awk '/VmRSS/{print $2/1024 " MiB"}' /proc/$p/status)"; done
