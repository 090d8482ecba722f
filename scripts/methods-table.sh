#!/usr/bin/env bash
# docs/methods.md's measured table: every method's shipped LeNet-5 config
# (configs/fashion_mnist/<method>_lenet5.toml, 90% sparsity, 15 epochs,
# seed 0) on the full Fashion-MNIST test set; prints the markdown table.
#   scripts/methods-table.sh [OUTPUT_DIR]   (default runs/methods_lenet5)
# Runs already finished are reused; delete the folder to measure anew.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/methods_lenet5}"
run=build/bin/cigl-run
[ -x "$run" ] || scripts/build.sh --target cigl-run cigl_plugins
methods=(dense static set snfs rigl cigl snip gmp)
for method in "${methods[@]}"; do
  dir="$out/$method"
  [ -f "$dir/metrics.json" ] && continue
  echo "== $method"
  "$run" --config "configs/fashion_mnist/${method}_lenet5.toml" \
    --output "$dir" | grep '^test'
done

# metrics.json holds one "name": value per line.
echo
echo "| method | accuracy | ECE | NLL | Brier | density |"
echo "| --- | --- | --- | --- | --- | --- |"
for method in "${methods[@]}"; do
  awk -v method="$method" '
    function grab(key,   v) { if ($0 ~ "^ *\"" key "\":") { v = $0;
        sub(/.*: /, "", v); sub(/,$/, "", v); return v } return "" }
    BEGIN { split("accuracy ece nll brier density", keys, " ") }
    { for (k in keys) { v = grab(keys[k]); if (v != "" && !(keys[k] in got))
        got[keys[k]] = v } }
    END { printf "| %s |", method
      for (i = 1; i <= 5; i++) printf " %.4f |", got[keys[i]]
      printf "\n" }' "$out/$method/metrics.json"
done
