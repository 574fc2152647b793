"""``python -m vietai_compress``: the same as the ``vietai-compress`` command."""
import sys

from .cli import main

sys.exit(main())
