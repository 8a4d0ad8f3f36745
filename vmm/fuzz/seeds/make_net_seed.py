#!/usr/bin/env python3
"""Writes seeds/net_queue/valid-mix: a guest with 16-entry RX and TX queues, every offered
feature acked, two TX frames (one split over three buffers, header split in two) and four
1 KiB mergeable RX buffers, and a host script with a 3000-byte frame, a would-block and a
60-byte frame, so the fuzzer starts from well-formed chains both ways.
Layout of a net_queue input: 16 config bytes (per queue, RX then TX: size exponent,
desc/avail/used ring addresses as u16 LE, flags: bit 0 EVENT_IDX), 8 bytes of acked
features (LE, masked with what the device offers), 16 script bytes (0 would block, 255 host
failure, else a frame of 300 * byte bytes), then the guest memory image."""
import struct, pathlib

cfg = (bytes([4]) + struct.pack("<HHH", 0x0000, 0x0100, 0x0200) + bytes([1])
       + bytes([4]) + struct.pack("<HHH", 0x0400, 0x0500, 0x0600) + bytes([0]))
features = struct.pack("<Q", (1 << 64) - 1)
script = bytes([10, 0, 1]) + bytes(13)
mem = bytearray(0x6000)
NEXT, WRITE = 1, 2
def desc(table, i, addr, length, flags, nxt):
    struct.pack_into("<QIHH", mem, table + i * 16, addr, length, flags, nxt)
def avail(ring, heads):
    struct.pack_into("<HH", mem, ring, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", mem, ring + 4 + 2 * i, h)
# RX: four single-buffer chains.
for i in range(4):
    desc(0x0000, i, 0x2000 + 0x400 * i, 0x400, WRITE, 0)
avail(0x0100, [0, 1, 2, 3])
# TX: a 12-byte header split 5 + 7, then 100 bytes; then one 72-byte frame.
for off in range(0x1000, 0x1100):
    mem[off] = off & 0xff
mem[0x1000:0x100c] = bytes(12)
desc(0x0400, 0, 0x1000, 5, NEXT, 1)
desc(0x0400, 1, 0x1005, 7, NEXT, 2)
desc(0x0400, 2, 0x100c, 100, 0, 0)
desc(0x0400, 3, 0x1100, 72, 0, 0)
avail(0x0500, [0, 3])
out = pathlib.Path(__file__).parent / "net_queue" / "valid-mix"
out.parent.mkdir(exist_ok=True)
out.write_bytes(cfg + features + script + bytes(mem))
