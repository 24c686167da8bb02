// Package prometheus holds sailplan's alert rules (rules.yaml, and prometheusrule.yaml for the Prometheus Operator); its tests check them with promtool.
package prometheus
