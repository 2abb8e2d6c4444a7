#!/usr/bin/env python3
"""Prints a .wasm module as a txtar file section for cmd/truce's scripts.

txtar holds text, and a file in it ends with a newline; a WebAssembly
binary does not. This appends a custom section (id 0, name "x") whose last
byte is the newline, so the module stays valid as stored, and refuses a
module that has a line beginning with "-- " (a txtar file marker).

Usage: txtarwasm.py NAME FILE.wasm >> script.txtar
"""
import sys

name, path = sys.argv[1], sys.argv[2]
b = open(path, "rb").read()
b += b"\x00\x03\x01x\n"
if b"\n-- " in b or b.startswith(b"-- "):
    sys.exit(f"{path}: has a line starting with '-- ': cannot be stored in txtar")
sys.stdout.buffer.write(b"-- " + name.encode() + b" --\n" + b)
