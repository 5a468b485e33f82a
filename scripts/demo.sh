#!/usr/bin/env bash
# demo.sh — the whole ProvCA story on loopback: a CA, a core, a device that
# gets its subscription through the attach reject and registers with
# 5G-AKA, then a second device that is revoked before it switches on.
# Leaves the Wireshark trace in demo/attach.pcap; stops everything at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${PROVCA_BIN:-$here/build/bin}
out=${DEMO_DIR:-$here/demo}
work=$(mktemp -d)
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

for p in ca-server corehook ueclient; do
  [ -x "$bin/$p" ] || { echo "demo: $bin/$p is not built (make build)" >&2; exit 1; }
done
mkdir -p "$out"
rm -f "$out/attach.pcap"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf "\$ %s\n" "$*" | sed "s|$bin/||g; s|$work/||g" >&2; "$@"; }

# A loopback TCP port for the CA, named in the certificate URLs it issues.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

say "1. The CA: Root, Device CA, Infrastructure CA, registry"
show "$bin/ca-server" init --example-oids --data "$work/ca" --plain-keys --hostname localhost --hostname 127.0.0.1 \
  --public-url "https://127.0.0.1:$port" >/dev/null
show "$bin/ca-server" manufacturer add --data "$work/ca" --id acme --name "Acme Sensors" >/dev/null
show "$bin/ca-server" principal add --data "$work/ca" --name acme-factory --role manufacturer \
  --manufacturer-id acme --out "$work/mfr" >/dev/null
show "$bin/ca-server" principal add --data "$work/ca" --name op1 --role operator --out "$work/op" >/dev/null
show "$bin/ca-server" principal add --data "$work/ca" --name op1-signer --role signer --out "$work/signer" >/dev/null
"$bin/ca-server" serve --data "$work/ca" --listen "127.0.0.1:$port" >"$work/ca.out" 2>"$work/ca.log" &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$work/ca.out" 2>/dev/null && break; sleep 0.1; done
grep "listening on" "$work/ca.out" || { cat "$work/ca.log"; exit 1; }
ca="https://127.0.0.1:$port"

mkdir -p "$work/core"
say "2. The operator's core: allow-list = this CA, signer = op1-signer"
show "$bin/corehook" init --config "$work/core/corehook.json" --ca-url "$ca" \
  --client-cert "$work/op/op1.crt" --client-key "$work/op/op1.key" --ca-root "$work/ca/root-ca.crt" \
  --signer-cert "$work/signer/op1-signer.crt" --signer-chain "$work/signer/op1-signer-chain.pem" \
  --signer-key "$work/signer/op1-signer.key" >/dev/null
python3 - "$work/core/corehook.json" <<'EOF'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c.setdefault("listen", {}).update({"nas_udp": "127.0.0.1:0", "http": "127.0.0.1:0"})
json.dump(c, open(p, "w"), indent=1)
EOF
"$bin/corehook" serve --config "$work/core/corehook.json" >"$work/core.out" 2>"$work/core.log" &
pids+=($!)
for _ in $(seq 100); do grep -q "nas udp" "$work/core.out" 2>/dev/null && break; sleep 0.1; done
core=$(sed -n 's/^nas udp //p' "$work/core.out")
[ -n "$core" ] || { cat "$work/core.log"; exit 1; }
echo "corehook: NAS over UDP on $core"

say "3. At the factory: the device makes its key and CSR, and is enrolled"
show "$bin/ueclient" init --state "$work/dev1" --manufacturer-id acme --serial SN-0001 --model sensor-1
show "$bin/ueclient" enroll --state "$work/dev1" --ca "$ca" --cert "$work/mfr/acme-factory.crt" \
  --key "$work/mfr/acme-factory.key" --root "$work/ca/root-ca.crt"

say "4. The device switches on: provisioning through the reject, then 5G-AKA"
show "$bin/ueclient" attach --state "$work/dev1" --core "00101@$core" --pcap "$out/attach.pcap"
echo "corehook says: $(grep -o 'kamf-fp=[0-9a-f]*' "$work/core.log" | tail -1)"

say "5. A second device is revoked between the factory and switch-on"
show "$bin/ueclient" init --state "$work/dev2" --manufacturer-id acme --serial SN-0002 --model sensor-1 >/dev/null
show "$bin/ueclient" enroll --state "$work/dev2" --ca "$ca" --cert "$work/mfr/acme-factory.crt" \
  --key "$work/mfr/acme-factory.key" --root "$work/ca/root-ca.crt"
dev2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["device_id"])' "$work/dev2/device.json")
show curl -sS --cacert "$work/ca/root-ca.crt" --cert "$work/ca/admin/admin.crt" --key "$work/ca/admin/admin.key" \
  -H "Content-Type: application/json" -d '{"reason":"keyCompromise"}' "$ca/api/v1/devices/$dev2/revoke"
echo
show "$bin/ueclient" attach --state "$work/dev2" --core "00101@$core" || true
[ -e "$work/dev2/credentials.json" ] && { echo "demo: revoked device got credentials!" >&2; exit 1; }
echo "no credentials were written for the revoked device."

say "Done. Trace for Wireshark: $out/attach.pcap"
if command -v tshark >/dev/null; then tshark -r "$out/attach.pcap" 2>/dev/null || true; fi
