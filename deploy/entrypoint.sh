#!/bin/sh
# Start TorchServe in the foreground (the container's main process) on the model store that holds a
# model: the one mounted at /home/model-server/model-store when it has stockcast.mar (what `make
# package`, `make retrain` and `make rollback` write on the host), else the model built into the
# image. --ncs: no config snapshots, so a restart starts from config.properties and the store.
set -eu
store=/home/model-server/model-store
if [ ! -f "$store/stockcast.mar" ]; then
    store=/opt/stockcast/model-store
fi
echo "stockcast: serving the model store $store"
exec torchserve --start --foreground --ncs \
    --ts-config "${STOCKCAST_TS_CONFIG:-/home/model-server/config.properties}" \
    --model-store "$store"
