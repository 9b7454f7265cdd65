#!/usr/bin/env bash
# Split the prepared default model's GGUF (94 MB) into two parts under .gpu/ (ignored by git),
# each small enough for one device call; run_on_device.sh `part aa|ab` puts them back together.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
.venv/bin/srl-swe models prepare smollm2-135m >/dev/null
gguf=${SRL_SWE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/srl-swe}/downloads/SmolLM2-135M-Instruct.Q4_1.gguf
mkdir -p .gpu && split -b 48M "$gguf" .gpu/part-
ls -la .gpu
