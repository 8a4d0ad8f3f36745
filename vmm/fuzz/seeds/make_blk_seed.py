#!/usr/bin/env python3
"""Writes seeds/blk_queue/valid-mix: a guest with a 16-entry queue holding one IN, OUT,
FLUSH and GET_ID request each, so the fuzzer starts from well-formed chains.
Layout of a blk_queue input: 8 config bytes (queue size exponent, desc/avail/used ring
addresses as u16 LE, flags), then the guest memory image."""
import struct, pathlib

cfg = bytes([4]) + struct.pack("<HHH", 0x0000, 0x0100, 0x0200) + bytes([1])
mem = bytearray(0x6000)
def desc(i, addr, length, flags, nxt):
    struct.pack_into("<QIHH", mem, i * 16, addr, length, flags, nxt)
NEXT, WRITE = 1, 2
heads = []
reqs = [(0, 1, 512, WRITE), (1, 2, 512, 0), (4, 0, 0, 0), (8, 0, 20, WRITE)]
d = 0
for n, (rtype, sector, dlen, dflags) in enumerate(reqs):
    hdr = 0x1000 + n * 16
    struct.pack_into("<IIQ", mem, hdr, rtype, 0, sector)
    heads.append(d)
    desc(d, hdr, 16, NEXT, d + 1); d += 1
    if dlen:
        desc(d, 0x2000 + n * 0x400, dlen, dflags | NEXT, d + 1); d += 1
    desc(d, 0x5000 + n, 1, WRITE, 0); d += 1
struct.pack_into("<HH", mem, 0x100, 0, len(heads))
for i, h in enumerate(heads):
    struct.pack_into("<H", mem, 0x104 + 2 * i, h)
out = pathlib.Path(__file__).parent / "blk_queue" / "valid-mix"
out.write_bytes(cfg + bytes(mem))
