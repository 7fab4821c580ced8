#!/usr/bin/env python3
"""Re-derive a pingyi SRS draw without pingyi, from the published spec
(analysis/src/sampling/draw.rs and rng.rs). Needs the `cryptography` package
for ChaCha20. Usage:

    python3 rederive.py FRAME.csv ID_COL STRATA_COL SEED N_H...

where N_H are the per-stratum sample sizes in stratum key order (from the
draw record). Prints the selected ids in frame order.
"""
import csv, hashlib, struct, sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms


class Stream:
    """ChaCha20 keystream, key K, 64-bit counter 0, 64-bit nonce 0, read as LE u64s."""

    def __init__(self, key):
        # cryptography's ChaCha20 takes a 16-byte nonce = 8-byte LE counter ‖ 8-byte nonce.
        self.enc = Cipher(algorithms.ChaCha20(key, b"\0" * 16), mode=None).encryptor()

    def u64(self):
        return struct.unpack("<Q", self.enc.update(b"\0" * 8))[0]

    def below(self, n):
        rem = (2**64) % n
        while True:
            x = self.u64()
            if x < 2**64 - rem:
                return x % n


def main():
    frame, id_col, strata_col, seed, *sizes = sys.argv[1:]
    with open(frame, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    keys = sorted({r[strata_col] for r in rows}, key=lambda k: k.encode("utf-8"))
    seed_digest = hashlib.sha256(seed.encode("utf-8")).digest()
    chosen = set()
    for key, n_h in zip(keys, map(int, sizes)):
        members = [i for i, r in enumerate(rows) if r[strata_col] == key]
        rng = Stream(hashlib.sha256(seed_digest + key.encode("utf-8")).digest())
        for i in range(n_h):
            j = i + rng.below(len(members) - i)
            members[i], members[j] = members[j], members[i]
        chosen.update(members[:n_h])
    for i in sorted(chosen):
        print(rows[i][id_col])


if __name__ == "__main__":
    main()
