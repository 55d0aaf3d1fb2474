"""Routes to a faster int8 ONNX file for a BERT-family student (issue 35's 15x floor): hfdistill's export, fused and
unfused, against other graph optimisations before ``quantize_dynamic``, each timed on SST-2 validation sentences in
one process, interleaved.

Variants (files under ``--output_dir``), all from the student folder's ``onnx/model.onnx`` (dynamo exporter):
- ``unfused``: ``quantize_onnx_file`` of it as it is, standard ONNX operators only (``export_to_onnx(...,
  fuse=False)``, and hfdistill's int8 file before the fusions).
- ``fused``: ``fuse_for_onnx_runtime`` (onnxscript's ONNX Runtime fusions up to MultiHeadAttention:
  SkipLayerNormalization, MultiHeadAttention, BiasGelu), then quantized: ``export_to_onnx``'s default int8 file.
- ``onnxscript_packed``: onnxscript's whole ``optimize_for_ort``, which goes on to pack Q/K/V into one Attention node,
  then quantized (the quantizer leaves that node in fp32).
- ``ort_optimizer``: ONNX Runtime's ``transformers.optimizer`` (``model_type="bert"``), then quantized.
- ``torchscript``: the PyTorch student exported again with the TorchScript exporter (``dynamo=False``, deprecated
  since PyTorch 2.9) and eager attention, ONNX Runtime's optimizer (which fuses Attention and the embeddings there),
  then quantized (QAttention, QEmbedLayerNormalization).

Prints, per variant, the fused operators, examples per second (best round), accuracy on the texts and label agreement
with the fp32 file.

    python benchmarks/int8_routes.py --student bench-out/int8_student --output_dir bench-out/int8/routes

``--student`` is a recipe output folder (PyTorch weights, for the TorchScript route) with ``onnx/model.onnx``.
"""

import argparse
import collections
import json
import os
import sys
import time
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _sst2 import SST2  # noqa: E402
from export_speed import read_tsv  # noqa: E402

from hfdistill.export import fuse_for_onnx_runtime, quantize_onnx_file  # noqa: E402
from hfdistill.export.onnx import _LogitsOnly, onnx_input_names  # noqa: E402


def onnxscript_route(fp32: str, folder: str) -> str:
    import onnx_ir as ir
    import onnxscript.optimizer
    from onnxscript.rewriter.ort_fusions import optimize_for_ort

    model, _ = optimize_for_ort(ir.load(fp32))
    onnxscript.optimizer.optimize(model, input_size_limit=1 << 30, output_size_limit=1 << 30)
    ir.save(model, os.path.join(folder, "onnxscript.onnx"))
    return quantize_onnx_file(os.path.join(folder, "onnxscript.onnx"), os.path.join(folder, "onnxscript_int8.onnx"))


def ort_optimizer_route(fp32: str, folder: str, config) -> str:
    from onnxruntime.transformers import optimizer

    optimized = optimizer.optimize_model(fp32, model_type="bert", num_heads=config.num_attention_heads,
                                         hidden_size=config.hidden_size, opt_level=1)
    optimized.save_model_to_file(os.path.join(folder, "ort_optimizer.onnx"))
    return quantize_onnx_file(os.path.join(folder, "ort_optimizer.onnx"),
                              os.path.join(folder, "ort_optimizer_int8.onnx"))


def torchscript_route(student: str, tokenizer, folder: str) -> str:
    from onnxruntime.transformers import optimizer

    model = AutoModelForSequenceClassification.from_pretrained(student, attn_implementation="eager").eval()
    names = onnx_input_names(model)
    sample = tokenizer(["a fine film", "long, dull and yet fine"], padding=True, return_tensors="pt")
    path = os.path.join(folder, "torchscript.onnx")
    axes = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(_LogitsOnly(model, names), tuple(sample[n] for n in names), path, dynamo=False,
                          opset_version=17, input_names=names, output_names=["logits"],
                          dynamic_axes={**{n: axes for n in names}, "logits": {0: "batch"}})
    optimized = optimizer.optimize_model(path, model_type="bert", num_heads=model.config.num_attention_heads,
                                         hidden_size=model.config.hidden_size, opt_level=1)
    optimized.save_model_to_file(os.path.join(folder, "torchscript_opt.onnx"))
    return quantize_onnx_file(os.path.join(folder, "torchscript_opt.onnx"),
                              os.path.join(folder, "torchscript_int8.onnx"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--student", required=True, help="a recipe output folder with onnx/ (BERT family)")
    parser.add_argument("--output_dir", default="bench-out/int8_routes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--num_timed_texts", type=int, default=256)
    parser.add_argument("--max_length", type=int, default=64)
    args = parser.parse_args()

    os.makedirs(args.output_dir, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(args.student)
    config = AutoModelForSequenceClassification.from_pretrained(args.student).config
    fp32 = os.path.join(args.student, "onnx", "model.onnx")
    unfused_file, fused_file = (os.path.join(args.output_dir, f"{name}_int8.onnx") for name in ("unfused", "fused"))
    quantize_onnx_file(fp32, unfused_file)
    fuse_for_onnx_runtime(fp32, os.path.join(args.output_dir, "fused.onnx"))
    quantize_onnx_file(os.path.join(args.output_dir, "fused.onnx"), fused_file)
    files = {"fp32": fp32, "unfused": unfused_file, "fused": fused_file,
             "onnxscript_packed": onnxscript_route(fp32, args.output_dir),
             "ort_optimizer": ort_optimizer_route(fp32, args.output_dir, config),
             "torchscript": torchscript_route(args.student, tokenizer, args.output_dir)}

    texts, labels = read_tsv(os.path.join(SST2, "validation.tsv"))
    labels = np.array(labels)
    batches = [dict(tokenizer(texts[i:i + 32], padding=True, truncation=True, max_length=args.max_length,
                              return_tensors="np")) for i in range(0, len(texts), 32)]
    timed = batches[: args.num_timed_texts // 32]
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    sessions = {name: ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
                for name, path in files.items()}

    def run(name, batch_list):
        session = sessions[name]
        inputs = [i.name for i in session.get_inputs()]
        return [session.run(["logits"], {n: b[n] for n in inputs})[0] for b in batch_list]

    best = dict.fromkeys(files, float("inf"))
    for _ in range(args.rounds):
        for name in files:
            start = time.perf_counter()
            run(name, timed)
            best[name] = min(best[name], time.perf_counter() - start)
    predictions = {name: np.concatenate(run(name, batches)).argmax(-1) for name in files}
    for name, path in files.items():
        ops = collections.Counter(node.op_type for node in onnx.load(path).graph.node)
        fused = {op: n for op, n in ops.items() if op in ("Attention", "QAttention", "MultiHeadAttention",
                                                           "SkipLayerNormalization", "BiasGelu",
                                                           "EmbedLayerNormalization", "QEmbedLayerNormalization",
                                                           "MatMulInteger")}
        print(json.dumps({"variant": name, "examples_per_second": round(len(timed) * 32 / best[name], 1),
                          "x_unfused": round(best["unfused"] / best[name], 3),
                          "accuracy": round(100 * float((predictions[name] == labels).mean()), 2),
                          "labels_as_fp32": round(100 * float((predictions[name] == predictions["fp32"]).mean()), 2),
                          "operators": fused, "threads": args.threads}), flush=True)


if __name__ == "__main__":
    main()
