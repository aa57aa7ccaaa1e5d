#!/usr/bin/env python3
"""PyTorch DistributedDataParallel over gloo, the baseline of
bench/runtime: the same model, global batch and optimizer as Soap's plan,
2 ranks (processes) with one intra-op thread each.

  ddp.py MODEL RANKS STEPS WARMUP   (MODEL: cnn | mlp)

Prints `mean step time S s over N steps` (rank 0's wall time per step after
WARMUP untimed steps; DDP's all-reduce keeps the ranks in step)."""
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn


def cnn():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2048, 10)), (32, 3, 32, 32), 10


def mlp():
    return nn.Sequential(
        nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
        nn.Linear(1024, 10)), (128, 784), 10


MODELS = {"cnn": cnn, "mlp": mlp}


def worker(rank, ranks, model_name, steps, warmup, port):
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=ranks)
    torch.manual_seed(0)
    model, shape, classes = MODELS[model_name]()
    # Batch norm uses each rank's own samples: PyTorch's SyncBatchNorm
    # (global statistics, what Soap's plan computes) needs GPUs. Soap pays
    # for two small all-reduces per batch norm that DDP here does not.
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    local = (shape[0] // ranks,) + shape[1:]
    x = torch.rand(local) * 2 - 1
    y = torch.randint(0, classes, (local[0],))
    loss_fn = nn.CrossEntropyLoss()
    timed = 0.0
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(ddp(x), y)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        if step >= warmup:
            timed += dt
    if rank == 0:
        print("mean step time %.6f s over %d steps (torch %s, gloo, %d ranks)"
              % (timed / steps, steps, torch.__version__, ranks), flush=True)
    dist.destroy_process_group()


def main():
    model_name, ranks, steps, warmup = sys.argv[1], int(sys.argv[2]), \
        int(sys.argv[3]), int(sys.argv[4])
    port = 29500 + os.getpid() % 1000
    mp.spawn(worker, args=(ranks, model_name, steps, warmup, port),
             nprocs=ranks, join=True)


if __name__ == "__main__":
    main()
