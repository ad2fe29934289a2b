"""PyTorch reference throughput for bench/run.sh (Debian's python3-torch).

  /usr/bin/python3 bench/torch_infer.py --arch preact --F 8 --shape 1x28x28 \
      --batch 64 --threads 1 --images 2048

Runs the same architecture as the ONNX model brownout evaluates (weights do
not change the speed), in eval mode under torch.no_grad(), on the same number
of images, batch size and thread count, and prints images/s as JSON.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import models  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="preact", choices=["preact", "resnet", "mobilenetv2"])
    ap.add_argument("--F", type=int, default=64)
    ap.add_argument("--shape", default="3x32x32")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--images", type=int, default=2048)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c, h, w = (int(x) for x in a.shape.split("x"))
    if a.arch == "preact":
        m = models.PreActResNet18(F=a.F, in_channels=c)
    elif a.arch == "resnet":
        m = models.ResNet18(F=a.F, in_channels=c)
    else:
        m = models.MobileNetV2(in_channels=c)
    m.eval()
    x = torch.randn(a.batch, c, h, w)
    with torch.no_grad():
        m(x)  # warm-up
        n = 0
        t0 = time.perf_counter()
        while n < a.images:
            b = min(a.batch, a.images - n)
            m(x[:b])
            n += b
        dt = time.perf_counter() - t0
    print(json.dumps({"images": n, "seconds": dt, "images_per_second": n / dt,
                      "torch": torch.__version__, "threads": a.threads, "batch": a.batch}))


if __name__ == "__main__":
    main()
