"""The reference U-Net (mateuszbuda/brain-segmentation-pytorch's architecture, written out here)
timed on random slices with PyTorch, for comparison with `train bench`: on the CPU (benches/compare.sh)
or on a GPU (scripts/gpu/bench.sh: `--device cuda`, and `--amp` for float16 autocast with a
gradient scaler, PyTorch's usual mixed precision).

usage: python3 torch_unet.py --width 32 --size 256 --batch 8 --steps 3 [--device cuda] [--amp]
"""
import argparse
import time
from collections import OrderedDict

import torch
import torch.nn as nn


def block(cin, cout):
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(cin, cout, 3, padding=1, bias=False)), ("norm1", nn.BatchNorm2d(cout)), ("relu1", nn.ReLU(inplace=True)),
        ("conv2", nn.Conv2d(cout, cout, 3, padding=1, bias=False)), ("norm2", nn.BatchNorm2d(cout)), ("relu2", nn.ReLU(inplace=True)),
    ]))


class UNet(nn.Module):
    def __init__(self, f=32):
        super().__init__()
        self.enc = nn.ModuleList([block(3, f), block(f, 2 * f), block(2 * f, 4 * f), block(4 * f, 8 * f)])
        self.pool = nn.MaxPool2d(2, 2)
        self.bottleneck = block(8 * f, 16 * f)
        self.up = nn.ModuleList([nn.ConvTranspose2d(2 * c, c, 2, stride=2) for c in (f, 2 * f, 4 * f, 8 * f)])
        self.dec = nn.ModuleList([block(2 * c, c) for c in (f, 2 * f, 4 * f, 8 * f)])
        self.head = nn.Conv2d(f, 1, 1)

    def forward(self, x):
        skips = []
        for e in self.enc:
            x = e(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for i in reversed(range(4)):
            x = self.dec[i](torch.cat([self.up[i](x), skips[i]], 1))
        return torch.sigmoid(self.head(x))


def dice_loss(p, t):
    inter = (p * t).sum()
    return 1 - (2 * inter + 1) / (p.sum() + t.sum() + 1)


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--width", type=int, default=32)
    a.add_argument("--size", type=int, default=256)
    a.add_argument("--batch", type=int, default=8)
    a.add_argument("--steps", type=int, default=3)
    a.add_argument("--device", default="cpu")
    a.add_argument("--amp", action="store_true")
    args = a.parse_args()
    dev = torch.device(args.device)
    # cuDNN picks its fastest convolution per shape, as burn's autotune does.
    torch.backends.cudnn.benchmark = True
    model = UNet(args.width).to(dev)
    print(f"parameters: {sum(p.numel() for p in model.parameters())}", flush=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(dev.type, enabled=args.amp)
    x = torch.randn(args.batch, 3, args.size, args.size, device=dev)
    y = (torch.rand(args.batch, 1, args.size, args.size, device=dev) < 0.1).float()

    def sync():
        # GPU work is asynchronous: a step's time counts only once its kernels have finished.
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def forward():
        with torch.autocast(dev.type, dtype=torch.float16, enabled=args.amp):
            return model(x)

    # Two untimed training steps, as `train bench` takes: the optimizer's state first exists in
    # the second step.
    secs = 0.0
    for step in range(args.steps + 2):
        sync()
        t = time.perf_counter()
        opt.zero_grad()
        loss = dice_loss(forward().float(), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sync()
        if step >= 2:
            secs += time.perf_counter() - t
    train = args.steps * args.batch / secs
    model.eval()
    secs = 0.0
    with torch.no_grad():
        for step in range(args.steps + 1):
            sync()
            t = time.perf_counter()
            forward()
            sync()
            if step:
                secs += time.perf_counter() - t
    infer = args.steps * args.batch / secs
    amp = ", float16 autocast" if args.amp else ""
    print(f"pytorch {torch.__version__} ({args.device}{amp}) unet f={args.width} {args.size}² batch {args.batch}: "
          f"train {train:.3f} img/s, inference {infer:.3f} img/s", flush=True)


if __name__ == "__main__":
    main()
