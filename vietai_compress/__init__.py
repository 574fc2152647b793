"""vietai_compress: the tested helpers behind the vietai-compress notebooks (Deep Compression in Vietnamese).

One module per idea: ``checks`` (argument checks), ``recipe`` (the article's constants), ``config``,
``data``, ``models``, ``training``, ``pruning``, ``quantization``, ``checkpoints``, ``stages`` (the
pipeline's steps, shared by notebooks and command line), ``compression``, ``huffman``, ``storage``,
``sparse``, ``plots``, ``pipeline`` and ``cli``. Import what a notebook needs
from its module, e.g. ``from vietai_compress.pruning import prune_by_std``.
"""
__version__ = "0.1.0"
