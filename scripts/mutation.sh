#!/usr/bin/env bash
# Mutation testing (mutmut) of the latent operations, the eval figures, the split, the
# checkpoint loader and TrainedModel against the fast test files named in pyproject.toml's
# [tool.mutmut]; prints the score per module. Not part of CI: a full run takes hours on one
# busy core (docs/testing.md has the figures and what each survivor is).
#   bash scripts/mutation.sh                 # every in-scope mutant not yet checked, then the scores
#   bash scripts/mutation.sh --rerun-survivors   # again on the survivors (after adding tests)
#   bash scripts/mutation.sh --scores        # only the scores of what mutants/ holds
#   bash scripts/mutation.sh --names 'explorer.eval.performance.x_main__mutmut_*' …   # those mutants
#                                            # again (names or globs), e.g. after adding a test for them
# MUTATION_CPUS=1 pins the run to CPU 1 (taskset); MUTATION_CHILDREN sets mutmut's workers
# (default 1). mutmut works in mutants/ (git-ignored); delete it to start afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${LATENT_EXPLORER_VENV:-$(pwd)/.venv}"
if ! "$VENV/bin/python" -c "import mutmut" 2>/dev/null; then
  echo "[mutation] installing the [mutation] extra (mutmut) into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[mutation]"
fi
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export LATENT_EXPLORER_DATA="${LATENT_EXPLORER_DATA:-$(pwd)/../shared/data}"
PIN=()
[[ -n "${MUTATION_CPUS:-}" ]] && PIN=(taskset -c "$MUTATION_CPUS")

# In scope: every function of explorer/latent, explorer/eval, models/checkpoint.py and
# models/trained.py, and of data/dataset.py only the split (split_of, melody_key,
# SegmentDataset.tune_keys and dedupe_splits). mutmut mutates the whole of dataset.py
# (it cannot pick functions); the names below leave the rest unrun.
mutants() {  # mutants STATUS,STATUS… : in-scope mutant names with those results
  "$VENV/bin/python" - "$1" <<'EOF'
import glob, json, sys
from collections import Counter, defaultdict

SPLIT = ("x_split_of__", "x_melody_key__", "ǁtune_keys__", "ǁdedupe_splits__")
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", None: "not checked",
          36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", 34: "skipped"}


def in_scope(name):
    if name.startswith("explorer.data.dataset."):
        return any(s in name for s in SPLIT)
    return name.startswith(("explorer.latent.", "explorer.eval.", "explorer.models.checkpoint.",
                            "explorer.models.trained."))


found = {}
for meta in glob.glob("mutants/explorer/**/*.meta", recursive=True):
    with open(meta) as f:
        for name, code in json.load(f)["exit_code_by_key"].items():
            if in_scope(name):
                found[name] = STATUS.get(code, f"exit {code}")
if sys.argv[1] == "scores":
    per = defaultdict(Counter)
    for name, status in found.items():
        per[name.split(".x")[0]][status] += 1
    per["all"] = sum(per.values(), Counter())
    for module, c in sorted(per.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        n = sum(c.values())
        rest = ", ".join(f"{s} {k}" for s, k in sorted(c.items()) if s != "killed")
        print(f"{module:36s} killed {c['killed']:4d} / {n:4d} ({100 * c['killed'] / n:5.1f} %)  {rest}")
else:
    wanted = set(sys.argv[1].split(","))
    print("\n".join(sorted(n for n, s in found.items() if s in wanted)))
EOF
}

run() {  # run STATUS,STATUS… : mutmut on the in-scope mutants with those results
  local names
  names="$(mutants "$1")"
  if [[ -z "$names" ]]; then echo "[mutation] nothing to run"; return; fi
  echo "[mutation] $(wc -l <<<"$names") mutants"
  # mutmut reruns named mutants even when they have a result, so only the ones wanted are named
  "${PIN[@]}" xargs -d '\n' "$VENV/bin/mutmut" run --max-children "${MUTATION_CHILDREN:-1}" <<<"$names"
}

if [[ ! -d mutants ]]; then  # the first run makes the mutants (and runs the stats); name none yet
  echo "[mutation] generating the mutants and the test coverage"
  "${PIN[@]}" "$VENV/bin/mutmut" run --max-children "${MUTATION_CHILDREN:-1}" \
    "explorer.latent.palette.x_cell_labels__mutmut_1"
fi
case "${1:-}" in
  --scores) ;;
  --rerun-survivors) run "survived,timeout" ;;
  --names) shift; "${PIN[@]}" "$VENV/bin/mutmut" run --max-children "${MUTATION_CHILDREN:-1}" "$@" ;;
  *) run "not checked,no tests,timeout" ;;
esac
mutants scores
