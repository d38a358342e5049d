"""The forecast model kinds: the registry that ``forecast train --model`` builds its choices from.

Kept free of torch so that ``dlcli --help`` stays fast; ``model.py`` builds each kind.
"""

MODEL_KINDS = ("seq2seq", "trimmed", "transformer")
