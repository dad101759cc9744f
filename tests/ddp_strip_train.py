"""Trains a small network of converted strip-conv layers for a few steps on one batch split across
the ranks of a DistributedDataParallel run (started by torchrun; see test_multi_gpu.py), or on the
whole batch on one GPU with --single. Writes the trained parameters to the given path (and, with --single, the initial ones beside it)."""

from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
from torch import nn

import cute_dwconv

STEPS = 3
BATCH = 8


class StripNetwork(nn.Module):
    def __init__(self, channels: int = 16):
        super().__init__()
        self.expand = nn.Conv2d(3, channels, 1)
        self.wide = nn.Conv2d(channels, channels, (1, 7), padding=(0, 3), groups=channels)
        self.tall = nn.Conv2d(channels, channels, (7, 1), padding=(3, 0), groups=channels)
        self.down = nn.Conv2d(channels, channels, (1, 5), stride=2, padding="valid", groups=channels)
        self.head = nn.Linear(channels, 4)

    def forward(self, x):
        y = torch.nn.functional.gelu(self.wide(self.expand(x)))
        y = self.down(self.tall(y) + y)
        return self.head(y.mean(dim=(2, 3)))


def data(device):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(STEPS, BATCH, 3, 40, 48, generator=generator)
    target = torch.randn(STEPS, BATCH, 4, generator=generator)
    return x.to(device), target.to(device)


def train(model, x, target, optimizer):
    for step in range(STEPS):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x[step]), target[step])
        loss.backward()
        optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--single", action="store_true", help="one GPU, the whole batch")
    opts = parser.parse_args()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    model = StripNetwork()
    assert len(cute_dwconv.convert(model, strips_only=True)) == 3
    if opts.single:
        device = torch.device("cuda", 0)
        model.to(device)
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, opts.out + ".init")
        x, target = data(device)
        train(model, x, target, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, opts.out)
        return
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    torch.cuda.set_device(device)
    model.to(device)
    ddp = nn.parallel.DistributedDataParallel(model, device_ids=[device.index])
    x, target = data(device)
    share = BATCH // world
    mine = slice(rank * share, (rank + 1) * share)
    train(ddp, x[:, mine], target[:, mine], torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9))
    if rank == 0:
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, opts.out)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
