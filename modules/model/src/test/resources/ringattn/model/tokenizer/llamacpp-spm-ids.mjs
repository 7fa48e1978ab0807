// Writes llama.cpp's own tokenization of seeded random strings with the stories260K GGUF
// (libllama through node-llama-cpp 3.22.1, llama_tokenize with add_special=false, parse_special=false).
// Usage (npm install node-llama-cpp@3.22.1 first; never run by the build):
//   node llamacpp-spm-ids.mjs "$PWD/node_modules/node-llama-cpp/dist/index.js" stories260K.gguf > llamacpp-spm-ids.json
const [, , lib, modelPath] = process.argv;
const {getLlama} = await import(lib);
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath});
let seed = 20260517;
const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) / (1 << 24); };
const pick = a => a[Math.floor(rnd() * a.length)];
const words = ["Once", "upon", "a", "time", "there", "was", "little", "girl", "named", "Lily", "She", "loved",
  "to", "play", "outside", "park", "the", "The", "and", "ball", "mom", "didn't", "Tom", "happy", "sun",
  "tree", "big", "red", "saw", "wanted", "it", "I'm", "sorry", "xylophone", "quizzically", "Zebra"];
const seps = [" ", " ", " ", " ", "  ", "   ", "\n", "\n\n", "\t", ", ", ". ", "! ", "? ", "\"", "'", "-", ""];
const odd = ["é", "ü", "ß", "ñ", "世界", "日本語", "😀", "👍🏽", "🇫🇷", "\u0000", "\u0007", "\u001b", "\u007f",
  "\u00a0", "\u2581", "<s>", "</s>", "<unk>", "<0x41>", "123", "3.14", "\ud800", "\udc00x", "\u200b", "€", "∑"];
const cases = [];
const fixed = ["", " ", "  ", "\n", "a", "Once upon a time", " Once upon a time", "Once upon a time ",
  "Lily's mom said, \"Lily, let's go to the park.\"", "<s>Once</s>", "\u2581Once", "😀", "世界", "\t\n\r",
  "\ud83d", "\ude00", "\ude00\ud83d", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "The  the   THE"];
for (const t of fixed) cases.push(t);
for (let i = 0; i < 300; i++) {
  let s = "";
  const n = 1 + Math.floor(rnd() * 12);
  for (let j = 0; j < n; j++) {
    const r = rnd();
    s += r < 0.6 ? pick(words) : r < 0.85 ? pick(seps) : pick(odd);
    if (rnd() < 0.5) s += pick(seps);
  }
  cases.push(s);
}
const out = cases.map(text => ({text, ids: Array.from(model.tokenize(text, false))}));
process.stdout.write(JSON.stringify({
  source: "llama.cpp llama_tokenize(add_special=false, parse_special=false) on stories260K.gguf via node-llama-cpp 3.22.1",
  cases: out}, null, 0).replace(/\},\{/g, "},\n{") + "\n");
