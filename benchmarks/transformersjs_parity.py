"""Do transformers.js and hfdistill's OnnxClassifier give the same labels on an exported folder?

Runs benchmarks/transformersjs_parity.mjs (node, @huggingface/transformers from benchmarks/js) on the first N SST-2
validation sentences for each dtype (q8 reads onnx/model_quantized.onnx, fp32 onnx/model.onnx), runs OnnxClassifier
on the same file, and prints a table of labels and scores.

    (cd benchmarks/js && ONNXRUNTIME_NODE_INSTALL=skip npm install)
    python benchmarks/transformersjs_parity.py /work/bench-out/export_speed/export_layers --count 20
"""

import argparse
import json
import os
import subprocess

from hfdistill import OnnxClassifier

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = {"q8": "model_quantized.onnx", "fp32": "model.onnx"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--dtypes", nargs="+", default=["q8", "fp32"], choices=list(FILES))
    parser.add_argument("--max_length", type=int, default=None,
                        help="OnnxClassifier truncation (transformers.js: the tokenizer's).")
    args = parser.parse_args()

    summary = {}
    for dtype in args.dtypes:
        out = subprocess.run(["node", os.path.join(HERE, "transformersjs_parity.mjs"), args.folder, dtype,
                              str(args.count)], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"transformers.js ({dtype}) failed:\n{out.stderr[-3000:]}")
        js = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
        python = OnnxClassifier(args.folder, file=FILES[dtype], max_length=args.max_length)(
            [row["text"] for row in js], batch_size=len(js))  # one padded batch, as transformers.js ran them
        print(f"\n### {dtype} (onnx/{FILES[dtype]})\n\n"
              "| # | sentence | transformers.js | OnnxClassifier | same label | |score diff| |")
        print("| --- | --- | --- | --- | --- | --- |")
        same, worst = 0, 0.0
        for i, (a, b) in enumerate(zip(js, python)):
            diff = abs(a["score"] - b["score"])
            same += a["label"] == b["label"]
            worst = max(worst, diff)
            print(f"| {i} | {a['text'][:60]} | {a['label']} {a['score']:.4f} | {b['label']} {b['score']:.4f} | "
                  f"{'yes' if a['label'] == b['label'] else 'NO'} | {diff:.2e} |")
        summary[dtype] = {"same_labels": same, "count": len(js), "max_score_diff": worst}
        print(f"\n{dtype}: {same}/{len(js)} labels identical, max score difference {worst:.2e}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
