#!/usr/bin/env bash
# Load test for bluebean-sim, with kamailio doing the same routing in the
# same run as the baseline. Not part of `cargo test`.
#
#   simulator/load/run.sh [--seconds 10] [--hold-ms 1000]
#                         [--reg-rates "1000 2000 3000 4000"]
#                         [--call-rates "250 500 1000 1500"]
#                         [--only sim|kamailio]
#   SIM_STRICT=0 turns off bluebean-sim's inbound datagram check (strict_parse)
#   to measure what it costs; SIM_ARGS adds bluebean-sim flags (e.g. "--threads 1").
#
# For each server and each rate it runs sipp for --seconds at that rate and
# records successful/failed transactions and the rate actually achieved:
#   REGISTER: fixtures/sim/sipp/register.xml, 1000 users, each "call" is
#             REGISTER, 401, REGISTER with digest, 200 (two requests);
#   calls:    sipp -sn uac (a SIP caller that is not an extension, calling the
#             outside line 0312345678) -> server -> sipp -sn uas registered as
#             the line's extension (1910 on bluebean-sim, 0312345678 on
#             kamailio); hold time --hold-ms, then BYE.
# Builds the simulator with --release. Needs sipp and kamailio (Debian
# packages sip-tester, kamailio). Prints a Markdown table; the raw sipp
# statistics stay in the work directory it prints.
set -euo pipefail

SECONDS_PER_STEP=10
HOLD_MS=1000
REG_RATES="1000 2000 3000 4000 5000"
CALL_RATES="250 500 750 1000 1250 1500"
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_PER_STEP="$2"; shift 2 ;;
        --hold-ms) HOLD_MS="$2"; shift 2 ;;
        --reg-rates) REG_RATES="$2"; shift 2 ;;
        --call-rates) CALL_RATES="$2"; shift 2 ;;
        --only) ONLY="$2"; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
SIPP_DIR="$ROOT/fixtures/sim/sipp"
for tool in sipp kamailio; do
    command -v "$tool" >/dev/null || { echo "run.sh: '$tool' is not installed (cargo xtask setup)" >&2; exit 2; }
done

echo "== building bluebean-sim (release)"
(cd "$ROOT" && cargo build -q -p simulator --release)
SIM_BIN="$TARGET/release/bluebean-sim"

WORK="$(mktemp -d /tmp/bbsim-load.XXXXXX)"
echo "== work directory: $WORK"
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    [ -f "$WORK/kamailio.pid" ] && kill "$(cat "$WORK/kamailio.pid")" 2>/dev/null || true
}
trap cleanup EXIT

SIM_SIP=127.0.0.1:15060
SIM_API=127.0.0.1:18080
KAM_SIP=127.0.0.1:15070
UAS_SIM=15090
UAS_KAM=15091

# --- users: 1000 extensions 3000..3999, the same on both servers ----------
{
    echo 'realm = "bluebean"'
    echo '[sip]'
    echo 'auth_algorithms = ["MD5"]'
    [ "${SIM_STRICT:-1}" = 0 ] && echo 'strict_parse = false'
    echo '[extensions.1910]'
    echo 'password = "pw1910"'
    for u in $(seq 3000 3999); do
        printf '[extensions.%s]\npassword = "pw%s"\n' "$u" "$u"
    done
    echo '[outside_lines.0312345678]'
    echo 'extension = "1910"'
} > "$WORK/load-tenant.toml"
{
    echo SEQUENTIAL
    for u in $(seq 3000 3999); do echo "$u;pw$u"; done
} > "$WORK/users.csv"
mkdir -p "$WORK/dbtext"
printf 'id(int,auto) table_name(string) table_version(int) \n0:subscriber:7\n0:location:9\n' > "$WORK/dbtext/version"
{
    echo 'id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string) '
    i=1
    for u in $(seq 3000 3999) 0312345678; do
        echo "$i:$u:127.0.0.1:pw$u:-:-"
        i=$((i + 1))
    done
} > "$WORK/dbtext/subscriber"
sed -e "s|@DBDIR@|$WORK/dbtext|" -e "s|@LISTEN@|udp:$KAM_SIP|" \
    "$ROOT/fixtures/sim/kamailio/kamailio.cfg" > "$WORK/kamailio.cfg"

# --- servers ---------------------------------------------------------------
start_sim() {
    BLUEBEAN_SIM_LOG=warn "$SIM_BIN" --config "$WORK/load-tenant.toml" \
        --sip "$SIM_SIP" --api "$SIM_API" --keep-calls 2000 ${SIM_ARGS:-} \
        > "$WORK/sim.out" 2> "$WORK/sim.err" &
    PIDS+=($!)
    for _ in $(seq 50); do grep -q "ready" "$WORK/sim.out" 2>/dev/null && return; sleep 0.1; done
    echo "run.sh: bluebean-sim did not start: $(cat "$WORK/sim.err")" >&2; exit 1
}
start_kamailio() {
    kamailio -f "$WORK/kamailio.cfg" -c > "$WORK/kamailio.check" 2>&1 \
        || { echo "run.sh: kamailio.cfg is invalid:"; cat "$WORK/kamailio.check"; exit 1; } >&2
    kamailio -f "$WORK/kamailio.cfg" -m 512 -M 32 -P "$WORK/kamailio.pid" -w "$WORK" > "$WORK/kamailio.out" 2>&1
    sleep 1
}

# --- one sipp step -------------------------------------------------------------
# step NAME RATE COUNT -- sipp args...   prints "ok failed achieved_rate"
step() {
    local name="$1" rate="$2" count="$3"; shift 4
    local stat="$WORK/$name-$rate.csv"
    rm -f "$stat"
    local start end code=0
    start=$(date +%s.%N)
    sipp "$@" -r "$rate" -m "$count" -l $((rate * 10 + 100)) -nostdin \
        -recv_timeout 10000 -timeout $((SECONDS_PER_STEP * 4 + 30)) \
        -trace_stat -stf "$stat" -fd 1 > "$WORK/$name-$rate.out" 2>&1 || code=$?
    end=$(date +%s.%N)
    # Last statistics line: SuccessfulCall(C) and FailedCall(C) columns.
    python3 - "$stat" "$start" "$end" "$HOLD_MS" "$name" <<'PY'
import csv, sys
path, start, end, hold, name = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
rows = list(csv.reader(open(path), delimiter=';'))
head, last = rows[0], rows[-1]
col = lambda n: int(last[head.index(n)])
ok, failed = col("SuccessfulCall(C)"), col("FailedCall(C)")
busy = (end - start) - (hold / 1000.0 if name.startswith("calls") else 0.0)
print(ok, failed, round(ok / max(busy, 0.001)))
PY
}

RESULTS="$WORK/results.md"
echo "| server | test | offered rate /s | successful | failed | achieved /s |" > "$RESULTS"
echo "|---|---|---|---|---|---|" >> "$RESULTS"

run_server() {
    local server="$1" target="$2" uas_port="$3" uas_user="$4" uas_pass="$5"
    for rate in $REG_RATES; do
        read -r ok failed achieved < <(step "register-$server" "$rate" $((rate * SECONDS_PER_STEP)) -- \
            -sf "$SIPP_DIR/register.xml" -inf "$WORK/users.csv" -au '[field0]' -ap '[field1]' "$target")
        echo "| $server | REGISTER (401 + 200) | $rate | $ok | $failed | $achieved |" | tee -a "$RESULTS"
    done
    sipp -sn uas -p "$uas_port" -i 127.0.0.1 -nostdin > "$WORK/uas-$server.out" 2>&1 &
    local uas=$!
    PIDS+=("$uas")
    sleep 0.5
    printf 'SEQUENTIAL\n%s;%s;127.0.0.1:%s\n' "$uas_user" "$uas_pass" "$uas_port" > "$WORK/uas-$server.csv"
    sipp -sf "$SIPP_DIR/register_contact.xml" -m 1 -nostdin -inf "$WORK/uas-$server.csv" \
        -au '[field0]' -ap '[field1]' "$target" > "$WORK/reg-uas-$server.out" 2>&1 \
        || { echo "run.sh: registering the UAS at $server failed" >&2; exit 1; }
    for rate in $CALL_RATES; do
        read -r ok failed achieved < <(step "calls-$server" "$rate" $((rate * SECONDS_PER_STEP)) -- \
            -sn uac -s 0312345678 -d "$HOLD_MS" "$target")
        echo "| $server | call via server (hold ${HOLD_MS} ms) | $rate | $ok | $failed | $achieved |" | tee -a "$RESULTS"
    done
    kill "$uas" 2>/dev/null || true
}

if [ "$ONLY" != "kamailio" ]; then
    echo "== bluebean-sim"
    start_sim
    run_server bluebean-sim "$SIM_SIP" "$UAS_SIM" 1910 pw1910
    curl -s "http://$SIM_API/api/stats" > "$WORK/sim-stats.json" || true
fi
if [ "$ONLY" != "sim" ]; then
    echo "== kamailio $(kamailio -v 2>/dev/null | head -1 | awk '{print $2}')"
    start_kamailio
    run_server kamailio "$KAM_SIP" "$UAS_KAM" 0312345678 pw0312345678
fi
echo
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); cores: $(nproc); seconds per step: $SECONDS_PER_STEP"
cat "$RESULTS"
