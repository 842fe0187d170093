"""Run a command (User-mode Linux) unable to read or write the extended FPU state by ptrace.

    python3 noxstate.py KERNEL ARGS...

A stand-alone script (no imports from vnetbench): it installs a seccomp filter, then execs.

User-mode Linux 6.1 moves its guest processes' FPU state with ptrace(PTRACE_GETREGSET/
PTRACE_SETREGSET, NT_X86_XSTATE) into a buffer of a fixed size; a host whose XSAVE area is
larger (AVX-512 and AMX: about 11 KB) refuses the write with EFAULT, and the guest's init dies
with "ptrace set fp regs failed, errno = 14". When reading that state fails at start-up, UML
falls back to PTRACE_GETFPREGS/SETFPREGS (the 512-byte FXSAVE area: x87 and SSE), which every
x86-64 host accepts: this filter makes exactly those two requests fail with EIO. The guest's
programs must then keep to x87 and SSE, which vnetbench.uml sees to (GUEST_ENVIRONMENT).
"""

import ctypes
import os
import struct
import sys

_AUDIT_ARCH_X86_64, _NR_PTRACE = 0xC000003E, 101
_PTRACE_GETREGSET, _PTRACE_SETREGSET, _NT_X86_XSTATE = 0x4204, 0x4205, 0x202
_LD_ABS, _JEQ, _RET = 0x20, 0x15, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K
_ALLOW, _EIO = 0x7FFF0000, 0x00050000 | 5  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EIO


def _instruction(code: int, if_true: int, if_false: int, k: int) -> bytes:
    return struct.pack("HBBI", code, if_true, if_false, k)


# Offsets in struct seccomp_data: nr 0, arch 4, args[0] 16, args[2] 32 (low halves).
PROGRAM = b"".join((
    _instruction(_LD_ABS, 0, 0, 4), _instruction(_JEQ, 0, 7, _AUDIT_ARCH_X86_64),
    _instruction(_LD_ABS, 0, 0, 0), _instruction(_JEQ, 0, 5, _NR_PTRACE),
    _instruction(_LD_ABS, 0, 0, 16), _instruction(_JEQ, 1, 0, _PTRACE_GETREGSET),
    _instruction(_JEQ, 0, 2, _PTRACE_SETREGSET),
    _instruction(_LD_ABS, 0, 0, 32), _instruction(_JEQ, 1, 0, _NT_X86_XSTATE),
    _instruction(_RET, 0, 0, _ALLOW), _instruction(_RET, 0, 0, _EIO),
))  # fmt: skip


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit("usage: noxstate.py COMMAND [ARGS...]")
    libc = ctypes.CDLL(None, use_errno=True)
    code = ctypes.create_string_buffer(PROGRAM, len(PROGRAM))
    program = _Program(len(PROGRAM) // 8, ctypes.addressof(code))
    # PR_SET_NO_NEW_PRIVS (38), then PR_SET_SECCOMP (22) with SECCOMP_MODE_FILTER (2).
    if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(program), 0, 0) != 0:
        sys.exit(f"noxstate: cannot install the seccomp filter: {os.strerror(ctypes.get_errno())}")
    os.execv(argv[1], argv[1:])


if __name__ == "__main__":
    main(sys.argv)
