# counter.py Provides add(): a counter plus n, modulo 2**30, that never passes through a big int.
# MIT license
#
# Small ints on a 32-bit port (the ESP32) stop at 2**30 - 1; anything larger is a heap object.
# `(x + n) & 0x3FFFFFFF` forms x + n first, so at the wrap it allocates (MemoryError under
# heap_lock, in the UART IRQ): add() wraps before the add instead.

from micropython import const

_MAX = const(0x3FFFFFFF)  # the largest small int on a 32-bit port; 2**30 itself would be boxed


def add(x, n):
    # (x + n) % 2**30 for 0 <= x, n < 2**30; every intermediate value stays in 0 .. 2**30 - 1
    if x > _MAX - n:
        return n - (_MAX - x) - 1
    return x + n
