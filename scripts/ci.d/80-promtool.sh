#!/usr/bin/env bash
# The Prometheus alert rules of deploy/prometheus: `promtool check rules` (syntax, PromQL,
# templates) and `promtool test rules` (alerts_test.yml: the main alerts fire on synthetic
# series, with their labels and annotations). promtool comes from Debian's prometheus package
# (scripts/promtool.sh; cached, a few seconds). That every metric the rules and the Grafana
# dashboard name exists is checked by gonka-gateway/tests/observability_files.rs.
set -euo pipefail
cd "$(dirname "$0")/../.."
promtool="$(bash scripts/promtool.sh)"
"$promtool" check rules deploy/prometheus/alerts.yml
(cd deploy/prometheus && "$promtool" test rules alerts_test.yml)
