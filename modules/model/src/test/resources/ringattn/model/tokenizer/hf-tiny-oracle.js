// Writes Hugging Face tokenizers' (npm "tokenizers" 0.23.2, the Rust library) ids for seeded random
// texts with the hand-built byte-level vocabulary of the test class TinyByteLevel (its json(true) text saved as a
// file), without special tokens in the texts (this project never matches them in text; HF does).
// Usage (npm install tokenizers@0.23.2 first; never run by the build):
//   node hf-tiny-oracle.js tiny-tokenizer.json > hf-tiny.json
const {Tokenizer} = require("tokenizers");
let seed = 424242;
const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) / (1 << 24); };
const pick = a => a[Math.floor(rnd() * a.length)];
const parts = ["the", "The", "THE", "ther", "singing", "in", "ing", "a", "er", "th", "I", "you", "we",
  "'s", "'S", "'t", "'re", "'VE", "'m", "'ll", "'d", "'x", "'", "12345", "3", "34", "45", "2024", "1234567",
  " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", " \n", "\u00a0", "\u3000", "\u2009", ".", ",", "!", "?!", "...",
  "(", ")", "-", "_", "\"", "<", ">", "|", "/", "$", "%", "é", "e\u0301", "ß", "Ωμέγα", "привет", "世界",
  "日本語", "한국어", "😀", "👍🏽", "🇫🇷", "\u0000", "\u001b", "\u007f", "٣", "Ⅻ", "½", "<tool>", "tool"];
const texts = ["", " ", "the", " the", " ther", "ther", "I'm singing", "I'M", "12345", "a  b\n\nc", "x  a", "he's. ok", "a. b", "x   y", "x \n\n\n y",
  "😀", "世界", "a<tool>b", " <tool> ", "the  \n ", "\n\n\n", "   x"];
for (let i = 0; i < 400; i++) {
  let s = "";
  const n = 1 + Math.floor(rnd() * 10);
  for (let j = 0; j < n; j++) s += pick(parts);
  texts.push(s);
}
(async () => {
  const tok = Tokenizer.fromFile(process.argv[2]);
  const cases = [];
  for (const text of texts) {
    const e = await tok.encode(text, null, {addSpecialTokens: false});
    cases.push({text, ids: Array.from(e.getIds())});
  }
  process.stdout.write(JSON.stringify({source: "Hugging Face tokenizers 0.23.2 (npm), encode(text, addSpecialTokens=false)",
    cases}).replace(/\},\{/g, "},\n{") + "\n");
})();
