// Loads an exported hfdistill folder (config.json, tokenizer files, onnx/model[_quantized].onnx) with transformers.js
// and prints one JSON line per SST-2 validation sentence: {"text", "label", "score"}, all classified in one padded
// batch. Compared with hfdistill's OnnxClassifier (the same sentences in one batch) by
// benchmarks/transformersjs_parity.py.
//
//   cd benchmarks/js && ONNXRUNTIME_NODE_INSTALL=skip npm install   # the CPU binaries ship in the npm package
//   node benchmarks/transformersjs_parity.mjs /work/bench-out/export_speed/export_layers q8 20
import { readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const here = dirname(fileURLToPath(import.meta.url));
// node_modules live in benchmarks/js, beside package.json
const require = createRequire(join(here, "js", "package.json"));
const { env, pipeline } = await import(require.resolve("@huggingface/transformers"));

const [folderArg, dtype = "q8", countArg = "20"] = process.argv.slice(2);
if (!folderArg) {
  console.error("usage: node transformersjs_parity.mjs FOLDER [q8|fp32] [COUNT]");
  process.exit(2);
}
const folder = resolve(folderArg);
env.allowRemoteModels = false; // never the Hub: the folder on disk only
env.allowLocalModels = true;
env.localModelPath = dirname(folder) + "/";

const tsv = process.env.SST2_VALIDATION || join(here, "..", "..", "shared", "data", "sst2", "validation.tsv");
const sentences = readFileSync(tsv, "utf8").split("\n").slice(1).filter((l) => l.length > 0)
  .map((l) => l.split("\t")[0]).slice(0, Number(countArg));

const classifier = await pipeline("text-classification", basename(folder), { dtype });
// One call for all: a padded batch, so the attention mask is exercised as in OnnxClassifier's batches.
const outputs = await classifier(sentences);
sentences.forEach((text, i) => {
  const best = Array.isArray(outputs[i]) ? outputs[i][0] : outputs[i];
  console.log(JSON.stringify({ text, label: best.label, score: best.score }));
});
