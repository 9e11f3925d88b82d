#!/usr/bin/python3
"""Is int8 worth building here? Times single ResNet-50-like convolutions through LibTorch's
oneDNN in float32, bfloat16 and int8 (per-channel weights, quint8 activations), NHWC, 2 threads,
and the quantize / dequantize passes a GroupNorm network needs around every int8 convolution
(LibTorch has no quantized GroupNorm). Prints one line per layer, then the conversion costs.

Usage: /usr/bin/python3 bench/int8_probe.py
"""
import time

import torch


def ms(fn, n=5):
    fn()
    t = time.time()
    for _ in range(n):
        fn()
    return (time.time() - t) / n * 1e3


def main():
    torch.set_num_threads(2)
    torch.backends.quantized.engine = "onednn"
    cl = torch.channels_last
    with torch.inference_mode():
        print("| layer | float32 ms | bf16 ms | int8 conv ms | int8 + quantize/dequantize ms |")
        print("|:---|---:|---:|---:|---:|")
        for c, o, k, h, w in [(256, 256, 3, 60, 80), (64, 64, 3, 120, 160), (1024, 256, 1, 30, 40),
                              (512, 512, 3, 30, 40)]:
            x = torch.randn(1, c, h, w).contiguous(memory_format=cl)
            wt = torch.randn(o, c, k, k) * 0.05
            wcl = wt.contiguous(memory_format=cl)
            pad = [k // 2] * 2
            f32 = ms(lambda: torch.mkldnn_convolution(x, wcl, None, pad, [1, 1], [1, 1], 1))
            xb, wb = x.bfloat16(), wcl.bfloat16()
            b16 = ms(lambda: torch.mkldnn_convolution(xb, wb, None, pad, [1, 1], [1, 1], 1))
            qw = torch.quantize_per_channel(wt, wt.abs().amax((1, 2, 3)) / 127, torch.zeros(o, dtype=torch.long), 0,
                                            torch.qint8)
            conv = torch.ao.nn.quantized.Conv2d(c, o, k, padding=k // 2)
            conv.set_weight_bias(qw, torch.zeros(o))
            conv.scale, conv.zero_point = 0.1, 128
            qx = torch.quantize_per_tensor(x, 0.05, 128, torch.quint8)
            q8 = ms(lambda: conv(qx))
            full = ms(lambda: conv(torch.quantize_per_tensor(x, 0.05, 128, torch.quint8)).dequantize())
            print(f"| {c}->{o} {k}x{k} at {h}x{w} | {f32:.2f} | {b16:.2f} | {q8:.2f} | {full:.2f} |")
        x = torch.randn(1, 256, 60, 80).contiguous(memory_format=cl)
        q = torch.quantize_per_tensor(x, 0.05, 128, torch.quint8)
        print(f"\n1.2 M activations (256x60x80, NHWC): quantize_per_tensor "
              f"{ms(lambda: torch.quantize_per_tensor(x, 0.05, 128, torch.quint8)):.2f} ms, dequantize "
              f"{ms(lambda: q.dequantize()):.2f} ms, float32->bf16 "
              f"{ms(lambda: x.to(torch.bfloat16, memory_format=cl)):.2f} ms")


if __name__ == "__main__":
    main()
