"""Writes the PTX embedded in the gpu.binary ops of an MLIR file (as
--attn-cuda-pipeline=format=isa prints it) to stdout; with a second
argument N, only that of the N-th gpu.binary (a function of several
kernels has one module each, and ptxas takes one module a file).

MLIR prints the string with a backslash doubled and every other
non-printable byte (and the double quote) as a backslash and two hex
digits; this undoes exactly that."""
import re
import sys

text = open(sys.argv[1], encoding="latin-1").read()
payloads = re.findall(r'assembly = "((?:[^"\\]|\\.)*)"', text)
if not payloads:
    sys.exit("extract-ptx: no 'assembly = \"...\"' in " + sys.argv[1])


def unescape(s):
    return re.sub(r"\\(\\|[0-9A-Fa-f]{2})",
                  lambda m: "\\" if m.group(1) == "\\" else
                  chr(int(m.group(1), 16)), s)


if len(sys.argv) > 2:
    payloads = [payloads[int(sys.argv[2])]]
sys.stdout.write("\n".join(unescape(p) for p in payloads))
