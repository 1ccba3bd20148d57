"""How vocab.json and merges.txt here were made: from CLIP's own BPE file, the way CLIP's tokenizer reads it.

The file is `bpe_simple_vocab_16e6.txt.gz`, shipped with OpenAI's CLIP and with open_clip (MIT licence). Every
Stable Diffusion text encoder (CLIP ViT-L, OpenCLIP ViT-H and ViT-bigG) uses this one vocabulary of 49408
tokens, so Easel ships it once and loads single-file checkpoints without the hub.

    python assets/clip-tokenizer/derive.py path/to/bpe_simple_vocab_16e6.txt.gz
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MERGES = 49152 - 256 - 2  # as CLIP's simple_tokenizer: the file's first line is a header, then this many merges


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's (and GPT-2's) reversible map from bytes to printable characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    characters = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, characters)))


def derive(bpe_file: str) -> None:
    lines = gzip.open(bpe_file).read().decode("utf-8").split("\n")[1:MERGES + 1]
    merges = [tuple(line.split()) for line in lines]
    vocab = list(bytes_to_unicode().values())
    vocab += [token + "</w>" for token in vocab]
    vocab += ["".join(merge) for merge in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (HERE / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}, ensure_ascii=False))
    (HERE / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(merge) for merge in merges) + "\n")


if __name__ == "__main__":
    derive(sys.argv[1])
