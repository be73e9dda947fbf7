"""One local stack per test module: moto over loopback, the real template, ASL and handlers.

When a module is done, every execution its stack ran is read back: no email address may appear in
any execution's input, output or history (``local_stack.stack``).
"""

from local_stack import stack, target

__all__ = ["stack", "target"]
