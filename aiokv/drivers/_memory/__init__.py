"""The memory driver's parts: the store (data and expiry bookkeeping) and the command handlers,
one module per command family, mirroring :mod:`aiokv.commands`."""
