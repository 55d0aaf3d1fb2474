"""How much do the MiniLM backbone's sentence representations differ between texts, before any fine-tuning?

`BertForSequenceClassification` classifies the pooler output (tanh(W h_[CLS] + b)); the packaged all-MiniLM-L6-v2 was
trained as a sentence encoder through the mean of its token states. For the first 64 comments of a file (default:
GoEmotions' training set), prints for the pooler output, the [CLS] state and the masked mean of the token states: the
mean norm, the mean per-dimension standard deviation across texts and the mean cosine similarity between two texts.

    python benchmarks/archive/pooled_representations.py ../shared/data/goemotions/train.tsv
"""

import csv
import os
import sys

import torch
from transformers import AutoModel, AutoTokenizer

from hfdistill.teachers import default_teacher

DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "goemotions",
                       "train.tsv")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    torch.set_num_threads(1)
    p = default_teacher()
    tok, m = AutoTokenizer.from_pretrained(p), AutoModel.from_pretrained(p).eval()
    rows = [r[0] for r in csv.reader(open(path, encoding="utf-8-sig"), delimiter="\t", quoting=csv.QUOTE_NONE)][:64]
    b = tok(rows, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        o = m(**b)
    mask = b["attention_mask"].unsqueeze(-1)
    mean = (o.last_hidden_state * mask).sum(1) / mask.sum(1)
    for name, x in [("pooler", o.pooler_output), ("cls", o.last_hidden_state[:, 0]), ("mean", mean)]:
        xn = torch.nn.functional.normalize(x, dim=-1)
        sim = xn @ xn.T
        print(f"{name}: norm {x.norm(dim=-1).mean().item():.3f}, "
              f"per-dimension std across texts {x.std(0).mean().item():.4f}, "
              f"mean cosine between texts {sim[~torch.eye(len(rows), dtype=bool)].mean().item():.3f}")


if __name__ == "__main__":
    main()
