#!/usr/bin/env bash
# Effect sizes of cigl's options (docs/methods.md): runs the 20 cells of
# configs/calibration/cigl_variants.toml two at a time (cells done already
# are skipped) and compares each option with the default, the official
# code path, paired across the 5 seeds.
#   scripts/cigl-variants.sh [ROOT]      (default runs/cigl_variants)
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-runs/cigl_variants}"
[ -x build/bin/cigl-run ] && [ -x build/bin/cigl-report ] ||
  scripts/build.sh --target cigl-run cigl-report cigl_plugins
build/bin/cigl-run --config configs/calibration/cigl_variants.toml --jobs 2 \
  --output "$root"

default=method.variant=official,method.update_rule=exact,method.dpnum=100
report="$root/report"
mkdir -p "$report"
build/bin/cigl-report "$root/cells" --by method.variant \
  --by method.update_rule --by method.dpnum --output "$report" > /dev/null
cat "$report/report.md"
for option in method.variant=restored method.update_rule=sparselearning \
              method.dpnum=10; do
  out="$report/${option#method.}"
  build/bin/cigl-report "$root/cells" --output "$out" \
    --paired-a "$option" --paired-b "$default" \
    --paired-metric ece --paired-metric nll --paired-metric accuracy \
    --paired-metric density > /dev/null
  echo
  echo "## $option against the default"
  echo
  cat "$out/paired.md"
done
