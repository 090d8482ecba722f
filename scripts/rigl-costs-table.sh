#!/usr/bin/env bash
# Prints the inference FLOPs and model size of ResNet-50 (ImageNet shape)
# for every row of the RigL README's table, with the MicroNet convention
# the paper counted with, beside the paper's figures (docs/costs.md).
# Usage: scripts/rigl-costs-table.sh [path/to/cigl-run]
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-build/bin/cigl-run}
config=configs/imagenet/resnet50_rigl.toml

# distribution, sparsity, paper FLOPs ratio, paper size (MB), extra --set
rows=(
  "ERK|0.8|0.42x|23.683|"
  "Uniform|0.8|0.23x|23.685|"
  "ERK|0.9|0.24x|13.499|"
  "Uniform|0.9|0.13x|13.532|"
  "ERK|0.95|0.12x|8.399|"
  "Uniform|0.95|0.08x|8.433|"
  "ERK|0.965|0.09x|6.904|"
  "Uniform|0.965|0.07x|6.904|"
  "ERK (dense first layer)|0.99|0.05x|4.354|"
)

measure() {  # prints "<ratio> <MB> <dense FLOPs> <dense MB>"
  "$run" --config "$config" --inspect --flops micronet "$@" |
    awk '/^inference FLOPs/ {f=$3; r=$4; d=$7; sub(/\(/, "", r); sub(/\)/, "", d)}
         /^model size/ {s=$3; ds=$8}
         END {print r, s, d, ds}'
}

# Every row reports the dense model beside the sparse one.
read -r _ _ dense_flops dense_mb < <(measure)
echo "| distribution | sparsity | FLOPs (cigl) | FLOPs (paper) | size MB (cigl) | size MB (paper) |"
echo "|---|---|---|---|---|---|"
echo "| dense | 0 | $dense_flops | 8.2e9 | $dense_mb | 102.122 |"
for row in "${rows[@]}"; do
  IFS='|' read -r dist sparsity paper_flops paper_size _ <<<"$row"
  density=$(awk -v s="$sparsity" 'BEGIN {printf "%.6g", 1 - s}')
  args=(--set "method.density=$density")
  case "$dist" in
    Uniform) args+=(--set 'method.distribution.plugin="uniform"'
                    --set 'method.distribution.dense_first_layer=true') ;;
    ERK\ \(dense*) args+=(--set 'method.distribution.overrides={ "conv1.weight" = 1.0 }'
                          --set 'method.distribution.fixed_in_budget=false') ;;
  esac
  read -r ratio size _ _ < <(measure "${args[@]}")
  echo "| $dist | $sparsity | $ratio | $paper_flops | $size | $paper_size |"
done
