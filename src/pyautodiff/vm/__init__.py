"""The CPython bytecode emulator: decoded code (code.py), frames (frame.py), the interpreter."""
