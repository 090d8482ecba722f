#!/usr/bin/env bash
# The CigL ablation of docs/calibration.md: runs the 65 cells of
# configs/calibration/ablation.toml two at a time (cells done already are
# skipped), then reports them with cigl-report: mean and standard
# deviation per variant and sparsity, the sparsity figure, and paired
# comparisons across seeds with 95% confidence intervals.
#   scripts/ablation-study.sh [ROOT]     (default runs/calibration_ablation)
# About 10 minutes on the 2-core development machine (65 runs of ~17 s).
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-runs/calibration_ablation}"
[ -x build/bin/cigl-run ] && [ -x build/bin/cigl-report ] ||
  scripts/build.sh --target cigl-run cigl-report cigl_plugins
build/bin/cigl-run --config configs/calibration/ablation.toml --jobs 2 \
  --output "$root"

report="$root/report"
cigl=method.plugin=cigl
rigl=method.plugin=rigl
compare() {  # name, selection A, selection B
  build/bin/cigl-report "$root/cells" --output "$report/$1" \
    --paired-a "$2" --paired-b "$3" \
    --paired-metric ece --paired-metric nll --paired-metric brier \
    --paired-metric accuracy > /dev/null
}
mkdir -p "$report"
build/bin/cigl-report "$root/cells" --by averaging.enabled --output "$report"
compare cigl_vs_rigl "$cigl,averaging.enabled=true" "$rigl,averaging.enabled=false"
compare averaging "$rigl,averaging.enabled=true" "$rigl,averaging.enabled=false"
compare random_mask "$cigl,averaging.enabled=false" "$rigl,averaging.enabled=false"
compare mask_given_averaging "$cigl,averaging.enabled=true" "$rigl,averaging.enabled=true"

echo
cat "$report/report.md"
for c in cigl_vs_rigl averaging random_mask mask_given_averaging; do
  echo
  echo "## $c"
  echo
  cat "$report/$c/paired.md"
done
