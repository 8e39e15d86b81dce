#!/usr/bin/env python3
"""Independent check of the pinned fp1 vectors, written from docs/fingerprint-spec.md.

It shares no code with the Rust encoder: every vector's `python` expression is evaluated here,
encoded by the rules of the spec, hashed, and compared with the `preimage_hex` and `digest` that
the Rust implementation pinned in tests/vectors/fp1.json. Two implementations agreeing on every
vector is what makes the format reproducible by consumers in other languages.

Usage: python3 scripts/fp1_check.py [path/to/fp1.json]
Prints one line per failure and `N passed, M failed` last; exits 1 on any failure.
Python 3.11+, standard library only.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import struct
import sys
from pathlib import Path

# Tags (spec: "Value encoding").
NULL, FALSE, TRUE, INT, FLOAT, STR, BYTES, SEQ, SET, MAP, END = range(0x01, 0x0C)

VERSION = 0x01
VALUE_NAMESPACE = "dedup.value"  # the namespace of std-type keys
CANONICAL_NAN = 0x7FF8_0000_0000_0000


class Variant:
    """A non-unit enum variant `Variant(name, payload)`, or a unit variant `Variant(name)`."""

    UNIT = object()

    def __init__(self, name: str, payload: object = UNIT) -> None:
        if not isinstance(name, str):
            raise TypeError("a variant name is a str")
        self.name = name
        self.payload = payload


# ----------------------------------------------------------------------------------------------
# Encoding


def u64be(n: int) -> bytes:
    return n.to_bytes(8, "big")


def enc_int(n: int) -> bytes:
    # Minimal two's complement: the magnitude's bits plus a sign bit, in whole bytes.
    bits = (n if n >= 0 else ~n).bit_length() + 1
    length = (bits + 7) // 8
    if length > 255:
        raise ValueError("integer too large for fp1")
    return bytes([INT, length]) + n.to_bytes(length, "big", signed=True)


def enc_float(x: float) -> bytes:
    if math.isnan(x):
        return bytes([FLOAT]) + u64be(CANONICAL_NAN)
    if math.isfinite(x) and x == math.floor(x):
        return enc_int(int(x))  # exact: a finite integral double is an integer
    return bytes([FLOAT]) + struct.pack(">d", x)


def enc_blob(tag: int, data: bytes) -> bytes:
    return bytes([tag]) + u64be(len(data)) + data


def enc(v: object) -> bytes:
    if v is None:
        return bytes([NULL])
    if isinstance(v, bool):  # before int: bool is a subclass of int
        return bytes([TRUE if v else FALSE])
    if isinstance(v, int):
        return enc_int(v)
    if isinstance(v, float):
        return enc_float(v)
    if isinstance(v, str):
        return enc_blob(STR, v.encode("utf-8"))  # strict: a lone surrogate is an error
    if isinstance(v, (bytes, bytearray)):
        return enc_blob(BYTES, bytes(v))
    if isinstance(v, (list, tuple)):
        return bytes([SEQ]) + b"".join(enc(e) for e in v) + bytes([END])
    if isinstance(v, (set, frozenset)):
        return bytes([SET]) + b"".join(sorted(enc(e) for e in v)) + bytes([END])
    if isinstance(v, dict):
        return enc_map(v.items(), keep_null=False)
    if isinstance(v, Variant):
        if v.payload is Variant.UNIT:
            return enc(v.name)
        # The one map that keeps a NULL value: A(None) must differ from B(None).
        return enc_map([(v.name, v.payload)], keep_null=True)
    raise TypeError(f"no fp1 encoding for {type(v).__name__}")


def enc_map(items, keep_null: bool) -> bytes:
    entries = []
    for key, value in items:
        ev = enc(value)
        if ev == bytes([NULL]) and not keep_null:
            continue
        entries.append((enc(key), ev))
    entries.sort(key=lambda e: e[0])  # bytes compare as unsigned, lexicographically
    for (a, _), (b, _) in zip(entries, entries[1:]):
        if a == b:
            raise ValueError("duplicate map key")
    return bytes([MAP]) + b"".join(k + v for k, v in entries) + bytes([END])


def preimage(namespace: str, body: bytes) -> bytes:
    return b"fp" + bytes([VERSION]) + enc(namespace) + body


def value_preimage(namespace: str, value: object) -> bytes:
    return preimage(namespace, enc(value))


def key_preimage(value: object) -> bytes:
    """The std-type key rule: a tuple or list combines its elements' own key digests."""
    if isinstance(value, (tuple, list)):
        body = bytes([SEQ])
        for element in value:
            body += enc_blob(BYTES, hashlib.sha256(key_preimage(element)).digest())
        return preimage(VALUE_NAMESPACE, body + bytes([END]))
    return value_preimage(VALUE_NAMESPACE, value)


# ----------------------------------------------------------------------------------------------
# Reading the `python` expressions without `eval`


CALLS = {"set", "Variant", "float"}
FLOAT_WORDS = {"nan", "inf", "-inf"}


def evaluate(node: ast.AST) -> object:
    if isinstance(node, ast.Expression):
        return evaluate(node.body)
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis:
            raise ValueError("`...` is not a value")
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = evaluate(node.operand)
        if isinstance(operand, bool) or not isinstance(operand, (int, float)):
            raise ValueError("a sign applies to numbers only")
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.List):
        return [evaluate(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(evaluate(e) for e in node.elts)
    if isinstance(node, ast.Set):
        return {evaluate(e) for e in node.elts}
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise ValueError("`**` is not allowed")
        return {evaluate(k): evaluate(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CALLS:
        if node.keywords:
            raise ValueError("keyword arguments are not allowed")
        args = [evaluate(a) for a in node.args]
        name = node.func.id
        if name == "set":
            if len(args) > 1:
                raise ValueError("set() takes at most one argument")
            return set(*args)
        if name == "float":
            if len(args) != 1 or args[0] not in FLOAT_WORDS:
                raise ValueError('float() only spells "nan", "inf" and "-inf"')
            return float(args[0])
        if not 1 <= len(args) <= 2:
            raise ValueError("Variant(name[, payload])")
        return Variant(*args)
    raise ValueError(f"not allowed in a vector: {ast.dump(node)[:60]}")


def parse(expression: str) -> object:
    return evaluate(ast.parse(expression, mode="eval"))


# ----------------------------------------------------------------------------------------------
# The check


def check(vector: dict) -> str | None:
    """None when the vector reproduces, else why not."""
    value = parse(vector["python"])
    kind = vector.get("kind", "value")
    if kind == "value":
        pre = value_preimage(vector["namespace"], value)
    elif kind == "key":
        if vector["namespace"] != VALUE_NAMESPACE:
            return f"a key vector must use the namespace {VALUE_NAMESPACE!r}"
        pre = key_preimage(value)
    else:
        return f"unknown kind {kind!r}"
    digest = hashlib.sha256(pre).hexdigest()
    problems = []
    if pre.hex() != vector["preimage_hex"]:
        problems.append(f"preimage {pre.hex()} != pinned {vector['preimage_hex']}")
    if digest != vector["digest"]:
        problems.append(f"digest {digest} != pinned {vector['digest']}")
    pinned = bytes.fromhex(vector["preimage_hex"])
    if hashlib.sha256(pinned).hexdigest() != vector["digest"]:
        problems.append("the pinned digest is not SHA-256 of the pinned preimage")
    return "; ".join(problems) or None


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    path = Path(argv[1]) if len(argv) > 1 else root / "tests" / "vectors" / "fp1.json"
    vectors = json.loads(path.read_text(encoding="utf-8"))["vectors"]
    passed = failed = 0
    names = set()
    for vector in vectors:
        name = vector.get("name", "?")
        try:
            if name in names:
                raise ValueError("duplicate vector name")
            names.add(name)
            problem = check(vector)
        except Exception as error:  # a bad vector is a failure, not a crash
            problem = f"{type(error).__name__}: {error}"
        if problem:
            failed += 1
            print(f"FAIL {name}: {problem}")
        else:
            passed += 1
    if not vectors:
        failed += 1
        print(f"FAIL: no vectors in {path}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
