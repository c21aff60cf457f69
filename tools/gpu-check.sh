#!/usr/bin/env bash
# The GPU cost of a token on this machine's adapter (DESIGN section 8), in one prepared run:
# the decode benchmark (bench/cli.ts, Node's `webgpu`, no peers) of the shipped pair
# (public/models/tinystories-target drafted by public/models/tinystories-draft) and of a
# SmolLM2-135M-shaped random model (made by `treespec fixture`; its `draft` strategy drafts
# with a copy of the target), printing tokens/s, tau and dispatches / readbacks per token of
# ar, draft, retrieval and auto. Random weights: tau means nothing on that model; its tokens/s
# and dispatches do. Then greedy decoding of both models, plain (`ar`) and drafted (`draft`),
# and, on the shipped target, by its Hydra heads (`hydra`), with 1 to 4 steps in flight
# (generate --steps-ahead N, EngineOptions.stepsAhead), three runs
# each, alternated: the measurement that chooses the default on a GPU.
#
#   tools/gpu-check.sh [--quick] [--out DIR]
#
# --quick: 8 tokens on one prompt, and a 2-layer random model instead of the SmolLM2 shape, so
# that the whole path runs in minutes on SwiftShader. Without it, 64 tokens on one prompt per
# category (meant for a real GPU: a few minutes). Output folders: DIR/shipped and DIR/smollm2
# (results.json, report.html, summary.md); default DIR is bench-out/gpu-check.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
out=bench-out/gpu-check
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out="$2"; shift ;;
    *) echo "usage: tools/gpu-check.sh [--quick] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done

strategies=ar,draft,retrieval,auto
if [ "$quick" = 1 ]; then
  tokens=8
  run=(--limit 1 --categories stories --max-tokens 8)
  # vocabulary, hidden, intermediate, layers, heads, kv heads of the random model
  shape=(--vocab 512 --hidden 64 --intermediate 160 --layers 2 --heads 4 --kv-heads 2)
  name="tiny random model"
else
  tokens=64
  run=(--limit 1 --max-tokens 64)
  shape=(--vocab 49152 --hidden 576 --intermediate 1536 --layers 30 --heads 9 --kv-heads 3)
  name="SmolLM2-135M-shaped random model"
fi
common=(--runtime node --peers none --repeats 1 --no-png --strategies "$strategies")

echo "== adapter"
npx tsx -e "import('./src/gpu/device.ts').then(async (m) => { const g = await m.acquireDevice(); console.log(g.adapterInfo); process.exit(0); })"

mkdir -p "$out"
model="$out/smollm2-model"
# the command line runs from the bundle (shaders inlined)
npx vite build --config vite.lib.config.ts > "$out/build.log" 2>&1 || { tail -20 "$out/build.log"; exit 1; }
if [ ! -f "$model/config.json" ] || [ "$(cat "$model/shape" 2>/dev/null)" != "${shape[*]}" ]; then
  rm -rf "$model"
  node bin/treespec.mjs fixture --out "$model" "${shape[@]}" --dtype f16 --seed 1
  echo "${shape[*]}" > "$model/shape"
fi

echo "== shipped pair: tinystories-target, draft tinystories-draft"
npx tsx bench/cli.ts "${common[@]}" "${run[@]}" --out "$out/shipped" > "$out/shipped.log" 2>&1 || { tail -20 "$out/shipped.log"; exit 1; }
cat "$out/shipped/summary.md"

echo
echo "== $name (${shape[*]}), drafted by a copy of itself"
npx tsx bench/cli.ts "${common[@]}" "${run[@]}" --model "$model" --out "$out/smollm2" > "$out/smollm2.log" 2>&1 || { tail -20 "$out/smollm2.log"; exit 1; }
cat "$out/smollm2/summary.md"

echo
echo "== encoded ahead: generate --steps-ahead N, $tokens tokens, prompt \"Once upon a time\", 3 runs each, alternated"
echo "(ar: plain greedy passes in flight; draft: greedy draft-model steps in flight, the draft being the shipped draft or a copy of the random model; hydra: greedy steps of the shipped target's heads in flight)"
printf '| model | strategy | N | run | tokens/s | tau | dispatches/token | submits/token | readbacks/token |\n|---|---|---|---|---|---|---|---|---|\n'
for m in public/models/tinystories-target "$model"; do
  if [ "$m" = "$model" ]; then draft="$model"; ss=(ar draft); else draft=public/models/tinystories-draft; ss=(ar draft hydra); fi
  for r in 1 2 3; do
    for s in "${ss[@]}"; do
      with=()
      if [ "$s" = draft ]; then with=(--draft "$draft"); fi
      for n in 1 2 3 4; do
        node bin/treespec.mjs generate --model "$m" "${with[@]}" --strategy "$s" --prompt "Once upon a time" --max-tokens "$tokens" --steps-ahead "$n" --json > "$out/ahead.json" 2> "$out/ahead.log" || { tail -20 "$out/ahead.log"; exit 1; }
        node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).stats; const t = s.generatedTokens, g = s.gpu;
          console.log(`| ${process.argv[2]} | ${s.strategy} | ${s.stepsAhead} | ${process.argv[3]} | ${s.tokensPerSecond.toFixed(1)} | ${(t / s.steps.length).toFixed(2)} | ${(g.dispatches / t).toFixed(1)} | ${(g.submits / t).toFixed(2)} | ${(g.readbacks / t).toFixed(2)} |`);' "$out/ahead.json" "$(basename "$m")" "$r"
      done
    done
  done
done
