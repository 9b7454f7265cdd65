#!/usr/bin/env bash
# Download the wheels the GPU work needs that the device image lacks (it has torch, transformers,
# accelerate, peft, pyarrow, xxhash, cloudpickle, matplotlib: see the device tool's KINDS.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
platforms="--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
for spec in trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 rapidfuzz==3.14.6 gymnasium==1.4.0 \
            farama-notifications==0.0.4 gguf==0.19.0 unidiff==1.0.1 wcmatch==12.0.3 bracex; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $platforms -d .whl "$spec"
done
ls -la .whl
