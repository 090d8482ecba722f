#!/usr/bin/env bash
# Accuracy and calibration of dense, RigL and CigL at 80/90/95% sparsity on
# Fashion-MNIST over three seeds; prints the markdown table of
# docs/calibration.md (mean +- standard deviation over seeds).
#   scripts/calibration-table.sh [OUTPUT_DIR]   (default runs/calibration)
# About 10 minutes on two CPU cores. Runs already finished are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/calibration}"
run=build/bin/cigl-run
[ -x "$run" ] || scripts/build.sh --target cigl-run cigl_plugins
seeds=(0 1 2)
cells=("dense 1.0")
for method in rigl cigl; do
  for density in 0.2 0.1 0.05; do cells+=("$method $density"); done
done
for cell in "${cells[@]}"; do
  read -r method density <<<"$cell"
  for seed in "${seeds[@]}"; do
    dir="$out/${method}_d${density}_s${seed}"
    [ -f "$dir/metrics.json" ] && continue
    args=(--config "configs/calibration/$method.toml" --output "$dir"
          --set "experiment.seed=$seed")
    [ "$method" = dense ] || args+=(--set "method.density=$density")
    echo "== $method density $density seed $seed"
    "$run" "${args[@]}" | tail -n 2 | head -n 1
  done
done

# metrics.json holds one "name": value per line; average over seeds.
echo
echo "| method | sparsity | accuracy | ECE | NLL | Brier | density |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for cell in "${cells[@]}"; do
  read -r method density <<<"$cell"
  cat "$out/${method}_d${density}"_s*/metrics.json | awk -v method="$method" \
      -v density="$density" '
    function grab(key,   v) { if ($0 ~ "\"" key "\":") { v = $0;
        sub(/.*: /, "", v); sub(/,$/, "", v); return v } return "" }
    { for (k in keys) { v = grab(keys[k]); if (v != "") {
        s[keys[k]] += v; ss[keys[k]] += v * v; n[keys[k]]++ } } }
    BEGIN { split("accuracy ece nll brier density", keys, " ") }
    END {
      printf "| %s | %.0f%% |", method, (1 - density) * 100
      for (i = 1; i <= 5; i++) { k = keys[i]; m = s[k] / n[k]
        var = (ss[k] - n[k] * m * m) / (n[k] > 1 ? n[k] - 1 : 1)
        printf " %.4f +- %.4f |", m, (var > 0 ? sqrt(var) : 0) }
      printf "\n" }'
done
