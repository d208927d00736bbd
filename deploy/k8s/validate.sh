#!/usr/bin/env bash
# Validates the Kubernetes manifests here against the API schemas of Kubernetes 1.29 (the oldest with
# everything they use) and of kubernetes-validate's newest, rejecting unknown fields. Needs
# `pip install kubernetes-validate`; says so and exits 0 when it is missing, so that it can run anywhere.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v kubernetes-validate >/dev/null; then
    echo "deploy/k8s/validate.sh: kubernetes-validate is not installed (pip install kubernetes-validate); skipped"
    exit 0
fi
for version in 1.29.0 ""; do
    kubernetes-validate --strict ${version:+--kubernetes-version "$version"} ./*.yaml
done
