#!/usr/bin/env bash
# Parses every .nix file of the repository (flake.nix, nix/*.nix). Nix cannot build or evaluate
# the flake here (no nixpkgs, no binary cache); a parse catches syntax errors, which are the
# errors nobody would otherwise see before a deployer runs `nix build`.
# Exit 0 with "skipped" when nix-instantiate is absent (Debian: apt-get install nix-bin).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nix-instantiate >/dev/null 2>&1; then
  echo "check-flake: skipped: nix-instantiate not installed"
  exit 0
fi

status=0
count=0
while IFS= read -r -d '' file; do
  count=$((count + 1))
  if ! output=$(nix-instantiate --parse "$file" 2>&1 >/dev/null); then
    echo "check-flake: $file does not parse:"
    # Debian's nix-bin warns about a missing nixbld group on every call; only errors matter.
    grep -v "build-users-group" <<<"$output" || true
    status=1
  fi
done < <(find . -name node_modules -prune -o -name .git -prune -o -name '*.nix' -type f -print0 | sort -z)

if [ "$status" -eq 0 ]; then
  echo "check-flake: $count .nix files parse ($(nix-instantiate --version))"
fi
exit "$status"
