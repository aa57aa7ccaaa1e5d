#!/bin/sh
# make-plans.sh DIR: a small GPT and the CNN example, and their plans on 1
# rank (the reference), 2 ranks (data parallel) and 4 ranks (Megatron; the
# CNN also searched; GPT also pipelined: gpt-pp4), written as
# DIR/<model>-<which>.json. Soap's tools come
# from PATH (lit puts the build's bin first).
set -e
d=$1
src=$(dirname "$0")/../../..
mkdir -p "$d"
soap-zoo gpt --layers 2 --hidden 16 --heads 4 --seq 8 --vocab 64 --batch 4 -o "$d/gpt.mlir"
cp "$src/docs/examples/cnn.mlir" "$d/cnn.mlir"
for m in gpt cnn; do
  plan() { soapc "$d/$m.mlir" --machine cpu-host --nodes 1 --emit plan "$@" > /dev/null; }
  plan --devices-per-node 1 -o "$d/$m-one.json"
  plan --devices-per-node 2 --baseline data-parallel -o "$d/$m-dp2.json"
  plan --devices-per-node 4 --baseline data-parallel -o "$d/$m-dp4.json"
  plan --devices-per-node 4 --baseline megatron -o "$d/$m-mt4.json"
done
soapc "$d/cnn.mlir" --machine cpu-host --nodes 1 --devices-per-node 4 --emit plan -o "$d/cnn-search4.json" > /dev/null
# GPT in a pipeline: 2 stages of 2 ranks (tensor parallel), 2 micro-batches, 1F1B.
soapc "$d/gpt.mlir" --machine cpu-host --nodes 1 --devices-per-node 4 --baseline megatron --tp 2 --pp 2 --micro-batches 2 --emit plan -o "$d/gpt-pp4.json" > /dev/null
