"""vietai_compress: the tested helpers behind the vietai-compress notebooks (Deep Compression in Vietnamese).

One module per idea: ``config``, ``data``, ``models``, ``training``, ``pruning``, ``checkpoints``,
``quantization``, ``compression``, ``huffman``, ``storage``, ``plots``. Import what a notebook needs
from its module, e.g. ``from vietai_compress.pruning import prune_by_std``.
"""
__version__ = "0.1.0"
