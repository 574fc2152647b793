"""Root pytest configuration.

Kernels started by nbval inherit this process's environment, so quick mode is
switched on here, before any notebook runs (see ../shared/NOTEBOOKS.md).
"""
import os

os.environ.setdefault("VIETAI_QUICK", "1")
