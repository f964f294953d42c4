#!/usr/bin/env python3
"""A peer for `npm run bench:merge`: mergekit's per-tensor merge pipeline, re-implemented with numpy.

For each tensor name: read it from every checkpoint, convert to float32, merge as mergekit's
generalized task arithmetic does, convert back to the input dtype and write it to one safetensors
file. Prints one JSON line: {"step", "secs", "cpu", "inputBytes", "rss"}.

  linear:    sum_i w_i x_i / sum_i w_i
  ties:      tau_i = x_i - base; keep the top int(density * numel) of |tau_i| (np.argpartition, as
             torch.topk picks them); elect the sign of sum_i w_i tau_i (zero counts as +); keep the
             agreeing entries; sum_i w_i tau_i m_i / sum_i w_i m_i (divisor 0 -> 1); plus base.
  dare_ties: Bernoulli(density) masks, kept entries rescaled so the L1 norm is unchanged, then the
             same sign election and normalisation.

Usage: mergekit_peer.py METHOD OUT_FILE BASE_DIR MODEL_DIR... (weights/densities as the bench's
recipes: linear 0.25 each; ties weight 1.0 density 0.2; dare_ties weight 0.5 density 0.3).
Needs only python3 and numpy (Debian: apt-get install -y python3-numpy); not used by the tests.
"""
import json
import os
import resource
import struct
import sys
import time

import numpy as np

DTYPES = {"F16": np.float16, "F32": np.float32}


def open_checkpoint(folder):
    """name -> (path, dtype, shape, start, end) over every .safetensors file of a folder."""
    tensors = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".safetensors"):
            continue
        path = os.path.join(folder, name)
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        for key, info in header.items():
            if key == "__metadata__":
                continue
            start, end = info["data_offsets"]
            tensors[key] = (path, info["dtype"], info["shape"], 8 + n + start, 8 + n + end)
    return tensors


def read(entry, handles):
    path, dtype, shape, start, end = entry
    f = handles.setdefault(path, open(path, "rb"))
    f.seek(start)
    raw = f.read(end - start)
    if dtype == "BF16":
        bits = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape), len(raw)
    return np.frombuffer(raw, dtype=DTYPES[dtype]).astype(np.float32).reshape(shape), len(raw)


def encode(x, dtype):
    if dtype == "BF16":
        bits = x.astype(np.float32).view(np.uint32)
        return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16).tobytes()
    return x.astype(DTYPES[dtype]).tobytes()


def magnitude_mask(tau, density):
    k = int(density * tau.size)
    flat = np.abs(tau).ravel()
    mask = np.zeros(tau.size, dtype=bool)
    if k > 0:
        mask[np.argpartition(flat, tau.size - k)[tau.size - k:]] = True
    return mask.reshape(tau.shape)


def random_mask(tau, density, rng):
    mask = rng.random(tau.shape, dtype=np.float32) < density
    return mask


def ties_combine(base, taus, weights):
    weighted = np.stack([w * t for w, t in zip(weights, taus)])
    sign = np.where(weighted.sum(axis=0) >= 0, 1.0, -1.0).astype(np.float32)
    agree = np.sign(weighted) == sign
    mixed = (weighted * agree).sum(axis=0)
    divisor = (np.array(weights, dtype=np.float32).reshape((-1,) + (1,) * base.ndim) * agree).sum(axis=0)
    divisor[divisor == 0] = 1
    return base + mixed / divisor


def merge(method, base, models, rng):
    if method == "linear":
        weights = [0.25] * len(models)
        return sum(w * m for w, m in zip(weights, models)) / sum(weights)
    if method == "ties":
        weights, density = [1.0] * len(models), 0.2
        taus = [m - base for m in models]
        taus = [t * magnitude_mask(t, density) for t in taus]
        return ties_combine(base, taus, weights)
    if method == "dare_ties":
        weights, density = [0.5] * len(models), 0.3
        taus = []
        for m in models:
            t = m - base
            kept = t * random_mask(t, density, rng)
            before, after = np.abs(t).sum(dtype=np.float64), np.abs(kept).sum(dtype=np.float64)
            if before > 1e-7 and after > 1e-7:
                kept *= np.float32(before / after)
            taus.append(kept)
        return ties_combine(base, taus, weights)
    raise SystemExit(f"unknown method {method}")


def main():
    method, out_file, base_dir, *model_dirs = sys.argv[1:]
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    base_ck = open_checkpoint(base_dir)
    model_cks = [open_checkpoint(d) for d in model_dirs]
    handles = {}
    rng = np.random.default_rng(0)
    input_bytes = 0
    names = list(base_ck.keys())
    header, offset = {}, 0
    for name in names:
        size = base_ck[name][4] - base_ck[name][3]
        header[name] = {"dtype": base_ck[name][1], "shape": base_ck[name][2], "data_offsets": [offset, offset + size]}
        offset += size
    head = json.dumps(header).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    with open(out_file, "wb") as out:
        out.write(struct.pack("<Q", len(head)))
        out.write(head)
        for name in names:
            arrays = []
            for ck in [base_ck] + model_cks:
                x, nbytes = read(ck[name], handles)
                arrays.append(x)
                input_bytes += nbytes
            base, models = arrays[0], arrays[1:]
            # linear merges every model including the base, as the bench's linear recipe does.
            merged = merge(method, base, arrays if method == "linear" else models, rng)
            out.write(encode(merged, base_ck[name][1]))
    for f in handles.values():
        f.close()
    secs = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    rss = r1.ru_maxrss * 1024
    print(json.dumps({"step": f"peer-{method}", "secs": secs, "cpu": cpu, "inputBytes": input_bytes, "rss": rss}))


if __name__ == "__main__":
    main()
