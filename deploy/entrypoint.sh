#!/bin/sh
# Start TorchServe (the container's main process) on the model store that holds a model: the one
# mounted at /home/model-server/model-store when it has stockcast.mar (what `make package`, `make
# retrain` and `make rollback` write on the host), else the model built into the image. --ncs: no
# config snapshots, so a restart starts from config.properties and the store.
#
# This shell stays PID 1 and stops TorchServe on SIGTERM (`docker stop`, a pod's termination):
# PID 1 gets no signal it has no handler for, and TorchServe's launcher sets none, so with `exec`
# the signal was ignored and the container was killed when its grace period ran out.
set -eu
store=/home/model-server/model-store
if [ ! -f "$store/stockcast.mar" ]; then
    store=/opt/stockcast/model-store
fi
echo "stockcast: serving the model store $store"
torchserve --start --foreground --ncs \
    --ts-config "${STOCKCAST_TS_CONFIG:-/home/model-server/config.properties}" \
    --model-store "$store" &
server=$!
trap 'torchserve --stop >/dev/null 2>&1 || kill -TERM "$server"' TERM INT
status=0
wait "$server" || status=$?
# a trapped signal ends the first wait early: wait again for TorchServe to finish stopping
if kill -0 "$server" 2>/dev/null; then
    status=0
    wait "$server" || status=$?
fi
exit "$status"
