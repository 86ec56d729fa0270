# The displacement control of RESULTS.md (see control.py): real-only-490-seed{0,1,2}.
set -e
cd "$(dirname "$0")/../.."
mkdir -p runs/reference-cpu-control && cp -rn runs/reference-cpu/corpus runs/reference-cpu/tokenizer runs/reference-cpu-control/
# needs CDSYNTH_EWOK_PASSWORD and CDSYNTH_ENTITY_TRACKING_PASSWORD (../shared/data/README.md)
for s in 0 1 2; do
  .venv/bin/cdsynth train configs/reference-cpu.yaml workdir=runs/reference-cpu-control train.name=real-only-490-seed$s train.seed=$s train.steps=490
  .venv/bin/cdsynth eval runs/reference-cpu-control/runs/real-only-490-seed$s workdir=runs/reference-cpu-control --config configs/reference-cpu.yaml evaluate.steps='[70, 210, 350, 490]'
done
echo CONTROL DONE
